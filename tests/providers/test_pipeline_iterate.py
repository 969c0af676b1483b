"""Edit and iterate end to end: services → Worker → local backend → each real adapter against
its wire-level fake. What each fake receives is what the user uploaded (re-encoded, no EXIF),
with the mask in that provider's own convention."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.domain.models import JobKind, JobRequest, JobStatus
from core.services.inputs import Inputs
from tests.fakes.gemini_server import FakeGemini
from tests.providers.test_pipeline import (  # the fixtures, shared with the pipeline tests
    CASES,
    Deployment,
    deployment,  # noqa: F401
    shared_deployment,  # noqa: F401
)


def photo_with_gps() -> bytes:
    img = Image.new("RGB", (32, 24), (10, 120, 200))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 0.0)}
    exif[0x010F] = "PhoneCam"
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def mask_png() -> bytes:
    img = Image.new("L", (32, 24), 0)
    img.paste(255, (0, 0, 8, 8))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("provider", ["openai", "gemini", "ideogram"])
def test_a_masked_edit_of_an_upload_reaches_each_provider_in_its_convention(
    deployment: Deployment,  # noqa: F811
    provider: str,
) -> None:
    model, params = CASES[provider]
    request = JobRequest(provider, model, "a kite in the corner", params, kind=JobKind.EDIT)
    upload = photo_with_gps()
    job = deployment.services.jobs.submit_iteration(
        deployment.user, request, images=Inputs(image=upload, mask=mask_png())
    )[0]
    done = deployment.wait(job.id)
    assert done.status is JobStatus.DONE, done.error_message
    assert done.kind is JobKind.EDIT and done.mask_path

    fake = deployment.fakes[provider]
    stored_source = deployment.backend.blobs.get(done.input_path)
    assert b"PhoneCam" in upload and b"PhoneCam" not in stored_source
    if provider == "openai":
        [call] = fake.calls("/v1/images/edits")
        files = call.files()
        assert files["image"][2] == stored_source
        with Image.open(io.BytesIO(files["mask"][2])) as mask:
            assert mask.getchannel("A").getpixel((2, 2)) == 0
            assert mask.getchannel("A").getpixel((20, 20)) == 255
    elif provider == "gemini":
        [call] = fake.calls(":generateContent")
        sent = FakeGemini.inline_images(call)
        assert sent[0] == stored_source and len(sent) == 2  # source, then the mask hint
    else:
        [call] = fake.calls("/v2/image/inpaint/ideogram-3")
        files = call.files()
        assert files["image"][2] == stored_source
        with Image.open(io.BytesIO(files["mask"][2])) as mask:
            assert mask.convert("L").getpixel((2, 2)) == 0
            assert mask.convert("L").getpixel((20, 20)) == 255
