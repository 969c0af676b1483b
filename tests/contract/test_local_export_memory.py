"""The export streams: with thousands of jobs its peak memory stays a small fraction of the
zip it produces, and the zip still lists every job and every file. (What does grow with the
number of files is the zip's central directory, which zipfile keeps until the end: a few hundred
bytes per file, whatever the file's size.)"""

from __future__ import annotations

import json
import os
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

from core.backends.sqlite import open_local_backend
from core.domain.models import JobQuery
from core.domain.paths import result_paths
from core.domain.settings import Settings
from core.services import build_services
from tests.constants import FAST_HASHER, PASSWORD
from tests.contract.support import new_jobs

JOBS = 2000
IMAGE_BYTES = 24 * 1024
PER_ENTRY = 1024  # the central directory's share of memory per file, generously


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

        out = tmp_path / "export.zip"
        tracemalloc.start()
        try:
            with out.open("wb") as f:
                for chunk in services.accounts.export_zip(ada):
                    f.write(chunk)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

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
    finally:
        backend.close()
