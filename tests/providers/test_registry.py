"""The provider registry: built-ins found in core.providers by their `PROVIDER` spec, plugins
added through the `image_studio.providers` entry-point group of an installed package (a real
dist-info on sys.path here), each configured from the variables its spec names."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.domain.settings import Settings, Variables
from core.providers.base import Capabilities, ModelInfo, Provider
from core.providers.demo import DemoProvider
from core.providers.gemini import GeminiProvider
from core.providers.registry import (
    ENTRY_POINT_GROUP,
    build_providers,
    provider_names,
    provider_specs,
)
from core.providers.spec import ProviderSpec
from core.web.api import openapi_document
from tests.constants import REPO_ROOT

BUILT_INS = ("demo", "gemini", "ideogram", "openai")  # at least these (a new one adds itself)

PLUGIN_MODULE = """
from core.providers.base import Capabilities, ModelInfo, Provider
from core.providers.spec import ProviderSpec


class AcmeProvider(Provider):
    name = "acme"
    label = "Acme Images"
    key_setting = "ACME_API_KEY"
    models = (ModelInfo("acme-1", "Acme 1", Capabilities(), default=True),
              ModelInfo("acme-2", "Acme 2", Capabilities()))


class Impostor(AcmeProvider):
    name = "openai"
    label = "Not OpenAI"


PROVIDER = ProviderSpec(
    AcmeProvider, base_url_env="ACME_BASE_URL", default_model_env="ACME_DEFAULT_MODEL"
)
IMPOSTOR = ProviderSpec(Impostor)
NOT_A_SPEC = AcmeProvider
"""

ENTRY_POINTS = f"""[{ENTRY_POINT_GROUP}]
acme = acme_studio_provider:PROVIDER
impostor = acme_studio_provider:IMPOSTOR
not-a-spec = acme_studio_provider:NOT_A_SPEC
broken = acme_studio_missing:PROVIDER
"""


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    """Each test looks again (the registry caches per process), and leaves no plugin behind."""
    provider_specs.cache_clear()
    yield
    provider_specs.cache_clear()


@pytest.fixture
def acme_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution `acme-studio` registering four entry points: one good
    provider, one taking a built-in's name, one that is not a spec, one that fails to load."""
    (tmp_path / "acme_studio_provider.py").write_text(PLUGIN_MODULE)
    dist_info = tmp_path / "acme_studio-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-studio\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_studio_provider", raising=False)
    yield tmp_path
    sys.modules.pop("acme_studio_provider", None)


def test_the_built_ins_are_the_modules_that_declare_a_spec_in_name_order() -> None:
    names = provider_names()
    assert set(BUILT_INS) <= set(names) and list(names) == sorted(names)
    for spec in provider_specs():
        assert spec.adapter.__module__ == f"core.providers.{spec.name}"
    providers = build_providers(Settings.load(env={}, secrets_path=None))
    assert tuple(providers) == names
    assert all(provider.name == name for name, provider in providers.items())


def test_each_spec_names_the_variables_it_is_configured_from() -> None:
    variables = {spec.name: spec.env_names() for spec in provider_specs()}
    assert {name: variables[name] for name in BUILT_INS} == {
        "demo": ("DEMO_LATENCY_MS", "DEMO_FAIL_RATE"),
        "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL", "GEMINI_DEFAULT_MODEL"),
        "ideogram": ("IDEOGRAM_API_KEY", "IDEOGRAM_BASE_URL", "IDEOGRAM_DEFAULT_MODEL"),
        "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_DEFAULT_MODEL"),
    }


def test_the_gemini_key_is_also_read_from_google_api_key_gemini_api_key_first() -> None:
    gemini = build_providers(Settings.load(env={"GOOGLE_API_KEY": "g-1"}, secrets_path=None))
    assert isinstance(gemini["gemini"], GeminiProvider) and gemini["gemini"].api_key == "g-1"
    both = {"GOOGLE_API_KEY": "g-1", "GEMINI_API_KEY": "g-2"}
    assert build_providers(Settings.load(env=both, secrets_path=None))["gemini"].api_key == "g-2"


def test_provider_variables_fall_back_to_secrets_toml(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('OPENAI_API_KEY = "sk-from-secrets"\nIDEOGRAM_API_KEY = "i-secret"\n')
    env = {"IDEOGRAM_API_KEY": "i-env", "OPENAI_BASE_URL": "http://gateway.test/v1"}
    providers = build_providers(Settings.load(env=env, secrets_path=secrets))
    assert providers["openai"].api_key == "sk-from-secrets"
    assert providers["openai"].base_url == "http://gateway.test/v1"  # type: ignore[attr-defined]
    assert providers["ideogram"].api_key == "i-env"  # the environment wins


def test_the_demo_reads_its_latency_and_failure_rate() -> None:
    env = {"DEMO_LATENCY_MS": "250", "DEMO_FAIL_RATE": "0.5"}
    demo = build_providers(Settings.load(env=env, secrets_path=None))["demo"]
    assert isinstance(demo, DemoProvider)
    assert (demo.latency_ms, demo.fail_rate) == (250, 0.5)


def test_keys_stay_out_of_repr() -> None:
    key = "sk-very-secret-value"
    settings = Settings.load(env={"OPENAI_API_KEY": key}, secrets_path=None)
    openai_spec = next(spec for spec in provider_specs() if spec.name == "openai")
    config = openai_spec.config(settings.variables)
    assert config.api_key == key
    for shown in (repr(settings), repr(settings.variables), repr(config), str(config)):
        assert key not in shown


def test_an_installed_package_adds_a_provider_and_bad_entry_points_are_left_out(
    acme_installed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="core.providers.registry"):
        names = provider_names()
    *built_ins, plugin = names  # plugins come after the built-ins
    assert plugin == "acme" and set(BUILT_INS) <= set(built_ins)
    assert [spec.adapter.__module__ for spec in provider_specs()][-1] == "acme_studio_provider"
    logged = caplog.text
    assert "'broken'" in logged and "failed to load" in logged
    assert "'not-a-spec'" in logged and "not a ProviderSpec" in logged
    assert "'openai' is already taken" in logged

    unset = build_providers(Settings.load(env={}, secrets_path=None))
    assert not unset["acme"].available()
    assert "ACME_API_KEY" in (unset["acme"].unavailable_reason() or "")
    assert unset["openai"].label == "OpenAI"  # the built-in kept its name

    env = {"ACME_API_KEY": "a-key", "ACME_DEFAULT_MODEL": "acme-2"}
    acme = build_providers(Settings.load(env=env, secrets_path=None))["acme"]
    assert acme.available() and acme.default_model.id == "acme-2"

    # The API's provider enum is fixed when core.web is imported, as a process starts with its
    # packages installed: a fresh process with the plugin installed lists it.
    assert _api_provider_enum(acme_installed) == [*built_ins, "acme"]


def _api_provider_enum(site: Path) -> list[str]:
    script = (
        "import json; from core.web.api import openapi_document; "
        "doc = openapi_document(); "
        "print(json.dumps(doc['components']['schemas']['JobCreate']['properties']['provider']"
        "['enum']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)])},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_api_enum_lists_exactly_the_registry() -> None:
    schema = openapi_document()["components"]["schemas"]["JobCreate"]["properties"]["provider"]
    assert schema["enum"] == list(provider_names())
    assert set(BUILT_INS) <= set(schema["enum"])


class _Keyless(Provider):
    name = "keyless"
    label = "Keyless"
    models = (ModelInfo("k-1", "K 1", Capabilities(), default=True),)


def test_a_spec_refuses_what_the_registry_could_not_use() -> None:
    assert ProviderSpec(_Keyless).key_env == ()
    assert ProviderSpec(_Keyless).build(Variables()).available()
    with pytest.raises(TypeError):
        ProviderSpec(object)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key_aliases"):
        ProviderSpec(_Keyless, key_aliases=("KEYLESS_TOKEN",))
    for bad in ("Bad Name", "", "9lives", "x" * 33, "a/b"):
        renamed = type("Renamed", (_Keyless,), {"name": bad})
        with pytest.raises(ValueError, match="name"):
            ProviderSpec(renamed)
    unlabelled = type("Unlabelled", (_Keyless,), {"label": ""})
    with pytest.raises(ValueError, match="label"):
        ProviderSpec(unlabelled)
