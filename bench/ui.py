"""UI benchmark (run by hand): the real app (`streamlit run app.py`, local backend, demo provider
at 0 ms) in headless Chromium (Playwright, /usr/bin/chromium).

    python bench/ui.py                       # this checkout
    python bench/ui.py --repo /work/main     # the same steps against another checkout
    python bench/ui.py --sessions 20 --cpu-seconds 15

Prints: the sign-in page load; click → image p50/p95 over --clicks runs (from the click on
Generate until the new image is loaded in the page) and done → on screen (from the job's
"done" write in the database to that moment); Generate and History (24 tiles) render
times after navigation (from a click made in the page until the form is there / the first
images are loaded, both read from the page's clock) and after a reload; the image requests
a rerun of History makes (0 when the signed URLs are reused and cached); and the server's
CPU with --sessions tabs open on a History page whose jobs stay unfinished (a second server,
demo latency 10 min).
Targets: click → image p50 ≤ 0.5 s; done → on screen ≤ 250 ms; Generate and History ≤ 0.5 s;
CPU with 20 sessions at most +20 % over the code before issue 13 (run with --repo on that
checkout to compare).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds queue.py: drop this folder from the path so it cannot shadow the standard
# library's `queue`, and add the repo root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import httpx  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.helpers import open_page, sign_up  # noqa: E402
from tests.live_server import free_port, studio_env  # noqa: E402

PASSWORD = "bench-password-1"
# At least `count` images in the page, the first row(s) loaded (the rest may load lazily).
IMAGES_JS = """(count) => {
    const imgs = [...document.querySelectorAll('[data-testid="stMain"] img')];
    return imgs.length >= count && imgs.slice(0, 8).every(i => i.complete && i.naturalWidth > 0);
}"""
NEW_IMAGE_JS = """(before) => {
    const imgs = [...document.querySelectorAll('[data-testid="stMain"] img')];
    return imgs.some(i => !before.includes(i.src) && i.complete && i.naturalWidth > 0);
}"""
SOURCES_JS = "() => [...document.querySelectorAll('[data-testid=\"stMain\"] img')].map(i => i.src)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@contextlib.contextmanager
def server(repo: Path, data_dir: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """`streamlit run app.py` from `repo`: (url, pid)."""
    port = free_port()
    log = (data_dir.parent / f"server-{port}.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=repo,
        env=studio_env(data_dir, env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(15)
        if process.poll() is None:
            process.kill()
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def submit(page: Page, prompt: str, count: int = 1) -> float:
    """Fill and submit the Generate form; the time of the click."""
    form = page.get_by_test_id("stForm")
    form.get_by_role("textbox", name=re.compile("^Prompt")).fill(prompt)
    number = form.get_by_label("Number of images")
    number.fill(str(count))
    number.press("Tab")
    button = form.get_by_role("button", name="Generate")
    started = time.perf_counter()
    button.click()
    return started


def click_to_image(page: Page, runs: int, db: Path) -> tuple[list[float], list[float]]:
    """Per run: seconds from the click to the new image loaded in the page, and from the job's
    "done" write in the database (its finished_at, same clock) to that moment."""
    times, after_done = [], []
    for i in range(runs):
        before = page.evaluate(SOURCES_JS)
        prompt = f"a lighthouse, take {i}"
        started = submit(page, prompt)
        page.wait_for_function(NEW_IMAGE_JS, arg=before, timeout=30_000, polling=10)
        seen = time.time()
        times.append(time.perf_counter() - started)
        with contextlib.closing(sqlite3.connect(db)) as conn:
            (finished_us,) = conn.execute(
                "SELECT finished_at FROM jobs WHERE prompt = ?", (prompt,)
            ).fetchone()
        after_done.append(seen - finished_us / 1e6)
        time.sleep(1.0)  # the page settles (its last redraw without the timer) first
    return times, after_done


# Run in the page: the first moment (Date.now(), ms) the page function `check(arg)` holds,
# polled every animation frame, so the figure is the page's own and not Playwright's.
READY_AT_JS = """([check, arg]) => {
    const ok = (0, eval)('(' + check + ')')(arg);
    if (ok && window.__benchReady == null) window.__benchReady = Date.now();
    return ok;
}"""


def ready_at(page: Page, check: str, arg: object) -> float:
    """Epoch seconds (the page's clock) of the first frame in which `check(arg)` held."""
    page.wait_for_function(READY_AT_JS, arg=[check, arg], timeout=30_000, polling="raf")
    return page.evaluate("() => window.__benchReady") / 1000


def navigate(page: Page, title: str, check: str, arg: object) -> float:
    """Seconds from a click on the sidebar link `title` (made in the page) until `check(arg)`
    holds: what the person waits for, without Playwright's own work before a click."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title)
    link.hover()
    page.evaluate("() => { window.__benchReady = null; }")
    clicked = page.evaluate(
        "(a) => { const t = Date.now(); a.click(); return t; }", link.element_handle()
    )
    return ready_at(page, check, arg) - clicked / 1000


def reload(page: Page, check: str, arg: object) -> float:
    """Seconds from a reload until `check(arg)` holds in the new page."""
    started = time.time()
    page.reload()
    return ready_at(page, check, arg) - started


def report(
    sign_in_s: float,
    clicks: list[float],
    after_done: list[float],
    renders: dict[str, list[float]],
    rerun_images: list[str],
) -> None:
    print(f"sign-in page      : {sign_in_s:.2f} s")
    print(
        f"done → on screen  : p50 {statistics.median(after_done) * 1000:.0f} ms, "
        f"p95 {percentile(after_done, 95) * 1000:.0f} ms (target ≤ 250 ms) "
        f"[{', '.join(f'{d * 1000:.0f}' for d in after_done)}]"
    )
    print(
        f"click → image     : p50 {statistics.median(clicks):.2f} s, "
        f"p95 {percentile(clicks, 95):.2f} s over {len(clicks)} "
        f"(target p50 ≤ 0.5 s: {'ok' if statistics.median(clicks) <= 0.5 else 'MISSED'}) "
        f"[{', '.join(f'{c:.2f}' for c in clicks)}]"
    )
    for name, seconds in renders.items():
        print(
            f"{name:18}: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s "
            f"over {len(seconds)} [{', '.join(f'{x:.2f}' for x in seconds)}]"
        )
    print(f"History rerun     : {len(rerun_images)} image requests (target 0)")


RENDERS = ("History, navigate", "Generate, navigate", "History, reload", "Generate, reload")
FORM_JS = "() => !!document.querySelector('[data-testid=\"stForm\"] textarea')"


def pages(browser: Browser, repo: Path, tmp: Path, runs: int, navs: int) -> None:
    """The page figures, printed."""
    with server(repo, tmp / "data", {"DEMO_LATENCY_MS": "0"}) as (url, _pid):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url + "/")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        sign_in_s = time.perf_counter() - started
        sign_up(page, "bench@example.com", PASSWORD)
        expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()

        clicks, after_done = click_to_image(page, runs, tmp / "data" / "studio.db")
        print(f"click → image runs: {', '.join(f'{c:.2f}' for c in clicks)}", flush=True)
        for i in range(4):  # at least 24 finished jobs for History's first page
            before = page.evaluate(SOURCES_JS)
            submit(page, f"a grid of kites, take {i}", count=4)
            page.wait_for_function(NEW_IMAGE_JS, arg=before, timeout=60_000, polling=50)
            # The feed lists every recent job: wait until none of them is unfinished.
            expect(
                page.get_by_test_id("stMain").get_by_text(re.compile(r"^(Queued|Processing)"))
            ).to_have_count(0, timeout=60_000)
        renders: dict[str, list[float]] = {name: [] for name in RENDERS}
        for _ in range(navs):
            renders["History, navigate"].append(navigate(page, "History", IMAGES_JS, 24))
            time.sleep(1.0)
            renders["Generate, navigate"].append(navigate(page, "Generate", FORM_JS, None))
            time.sleep(1.0)
        requests: list[str] = []
        open_page(page, "History")
        expect(page.get_by_test_id("stMain").locator("img")).not_to_have_count(0)
        time.sleep(1.0)
        page.on("request", lambda r: requests.append(r.url))
        page.get_by_role("heading", name="History", level=1).click()
        page.keyboard.press("r")  # Streamlit's "rerun" shortcut
        time.sleep(2.0)
        rerun_images = [u for u in requests if "/api/files/" in u or "/media/" in u]
        for _ in range(max(1, navs // 2)):
            renders["History, reload"].append(reload(page, IMAGES_JS, 24))
            time.sleep(1.0)
        open_page(page, "Generate")
        for _ in range(max(1, navs // 2)):
            renders["Generate, reload"].append(reload(page, FORM_JS, None))
            time.sleep(1.0)
        context.close()
    report(sign_in_s, clicks, after_done, renders, rerun_images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=_HERE.parent)
    parser.add_argument("--clicks", type=int, default=9)
    parser.add_argument("--navs", type=int, default=6, help="page changes timed per page")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--cpu-seconds", type=float, default=15.0)
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU measurement")
    args = parser.parse_args()
    repo = args.repo.resolve()
    expect.set_options(timeout=60_000)  # a shared, busy machine: slow is measured, not fatal
    print(f"code: {repo}")
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        if not args.cpu_only:
            pages(browser, repo, Path(tmp), args.clicks, args.navs)

        cpu, memory = None, [0.0, 0.0]
        if args.sessions > 0:
            env = {"DEMO_LATENCY_MS": "600000"}  # jobs stay unfinished while we watch
            with server(repo, Path(tmp) / "data-cpu", env) as (url, pid):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(url + "/")
                sign_up(page, "watcher@example.com", PASSWORD)
                expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()
                submit(page, "never finishes", count=4)
                expect(page.get_by_test_id("stMain").get_by_text("Processing")).not_to_have_count(0)
                for _ in range(args.sessions):
                    tab = context.new_page()
                    tab.goto(url + "/history", timeout=120_000, wait_until="commit")
                    heading = tab.get_by_role("heading", name="History", level=1)
                    expect(heading).to_be_visible(timeout=120_000)
                time.sleep(5)  # settle
                before_cpu, before_t = cpu_seconds(pid), time.perf_counter()
                memory = [rss_mb(pid)]
                time.sleep(args.cpu_seconds)
                cpu = (cpu_seconds(pid) - before_cpu) / (time.perf_counter() - before_t)
                memory.append(rss_mb(pid))
                context.close()
        browser.close()

    if cpu is not None:
        print(
            f"server CPU        : {cpu * 100:.1f} % of a core with {args.sessions} sessions "
            f"watching unfinished jobs (server memory {memory[0]:.0f} → {memory[1]:.0f} MB "
            "over that time)"
        )


if __name__ == "__main__":
    main()
