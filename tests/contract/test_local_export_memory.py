"""The export streams: with thousands of jobs its peak memory stays a small fraction of the
zip it produces, and the zip still lists every job and every file. (What does grow with the
number of files is the zip's central directory, which zipfile keeps until the end: a few hundred
bytes per file, whatever the file's size.)

The export runs in a child process of its own: tracemalloc counts every thread of a process,
and in a test worker a thread left by an earlier test could allocate during the window (seen
once in CI: a 10.9 MB peak for a 62 MB zip, never reproduced alone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

from core.backends.sqlite import open_local_backend
from core.domain.models import JobQuery
from core.domain.paths import result_paths
from core.domain.settings import Settings
from core.services import build_services
from tests.constants import FAST_HASHER, PASSWORD, REPO_ROOT
from tests.contract.support import new_jobs

JOBS = 2000
IMAGE_BYTES = 24 * 1024
PER_ENTRY = 1024  # the central directory's share of memory per file, generously

# argv: data dir, email, password, zip path. Prints the export's peak traced memory (bytes).
EXPORT = """
import sys, tracemalloc
from dataclasses import replace
from pathlib import Path
from core.backends.sqlite import open_local_backend
from core.domain.settings import Settings
from core.services import build_services
from tests.constants import FAST_HASHER

data_dir, email, password, out = sys.argv[1:]
settings = replace(Settings.load(env={}, secrets_path=None), data_dir=Path(data_dir))
backend = open_local_backend(settings, password_hasher=FAST_HASHER)
services = build_services(backend, {}, settings)
user = services.accounts.sign_in(email, password, None).user
tracemalloc.start()
with open(out, "wb") as f:
    for chunk in services.accounts.export_zip(user):
        f.write(chunk)
print(tracemalloc.get_traced_memory()[1])
backend.close()
"""


def test_exporting_thousands_of_jobs_keeps_memory_bounded(
    settings: Settings, tmp_path: Path
) -> None:
    settings = replace(settings, data_dir=tmp_path / "data")
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    try:
        services = build_services(backend, {}, settings)
        ada = services.accounts.sign_up("ada@example.com", PASSWORD).user
        for start in range(0, JOBS, 500):
            backend.jobs.create_jobs(
                new_jobs(ada, min(500, JOBS - start)), rate_limit_per_minute=10**9, daily_quota=None
            )
        ids = []
        cursor = None
        while True:
            page = backend.jobs.list_jobs(JobQuery(user_id=ada.id, limit=100, cursor=cursor))
            for job in page.items:
                image, thumb = result_paths(job, "png")
                backend.blobs.put(image, os.urandom(IMAGE_BYTES), "image/png")
                backend.blobs.put(thumb, os.urandom(IMAGE_BYTES // 4), "image/webp")
                ids.append((job.id, image, thumb))
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert backend.db is not None
        with backend.db.write() as conn:  # mark them done the quick way (no worker needed)
            conn.executemany(
                "UPDATE jobs SET status = 'done', result_path = ?, thumb_path = ? WHERE id = ?",
                [(image, thumb, job_id) for job_id, image, thumb in ids],
            )
    finally:
        backend.close()

    out = tmp_path / "export.zip"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            EXPORT,
            str(settings.data_dir),
            "ada@example.com",
            PASSWORD,
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    peak = int(child.stdout.strip().splitlines()[-1])

    total = out.stat().st_size
    assert total > JOBS * IMAGE_BYTES  # every image is in there, stored as is
    assert peak < total / 10, f"peak {peak} bytes for a {total}-byte export"
    assert peak < 1_000_000 + PER_ENTRY * 2 * JOBS, f"peak {peak} bytes"

    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        listed = json.loads(archive.read("jobs.json"))
    assert {j["id"] for j in listed} == {job_id for job_id, _i, _t in ids}
    assert len(names) == 1 + 2 * JOBS
    assert all(name in names for j in listed for name in j["files"])
