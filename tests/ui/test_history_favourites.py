"""History's favourites and selections (issue 12): the star on a tile and in the lightbox, the
favourites filter (in the URL), selecting images to star, zip or delete them together, and the
zip's size cap saying so instead of offering the download."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.services import selection
from tests.ui.conftest import Studio
from tests.ui.helpers import page_text
from tests.ui.test_history import HISTORY, grid_prompts, open_job, people, submit


def star_key(job_id: str, on: bool) -> str:
    return f"hist_{'staron' if on else 'staroff'}_{job_id}"


def test_star_on_a_tile_and_filter_by_favourites(studio: Studio) -> None:
    ada, _bob = people(studio)
    (fox,) = submit(studio, ada, "a red fox")
    (owl,) = submit(studio, ada, "a white owl")
    studio.wait_finished(ada)
    at = studio.app(ada, HISTORY)
    star = at.button(key=star_key(fox, False))
    assert star.label == "Add a red fox to favourites"  # a unique accessible name
    at = star.click().run()
    assert not at.exception and "Added to favourites." in page_text(at)
    assert at.button(key=star_key(fox, True)).label == "Remove a red fox from favourites"
    assert studio.services.jobs.get_job(ada.user, fox).starred
    assert not studio.services.jobs.get_job(ada.user, owl).starred

    at = at.toggle(key="hist_starred").set_value(True).run()
    assert grid_prompts(at) == ["a red fox"]

    at = at.button(key=star_key(fox, True)).click().run()
    assert "Removed from favourites." in page_text(at)
    assert grid_prompts(at) == []
    assert "No jobs match these filters." in page_text(at)


def test_star_in_the_lightbox(studio: Studio) -> None:
    ada, _bob = people(studio)
    (fox,) = submit(studio, ada, "a red fox")
    studio.wait_finished(ada)
    at = open_job(studio.app(ada, HISTORY), fox)
    assert at.button(key="hist_star").label == "Add to favourites"
    at = at.button(key="hist_star").click().run()
    assert studio.services.jobs.get_job(ada.user, fox).starred
    assert at.button(key="hist_star").label == "Remove from favourites"


def select_mode(at: AppTest) -> AppTest:
    return at.toggle(key="hist_selecting").set_value(True).run()


def test_select_then_delete_together(studio: Studio) -> None:
    ada, _bob = people(studio)
    ids = submit(studio, ada, "a fox", count=3)
    (owl,) = submit(studio, ada, "an owl")
    jobs = {j.id: j for j in studio.wait_finished(ada)}
    blobs = studio.runtime.backend.blobs
    at = select_mode(studio.app(ada, HISTORY))
    assert "Tick the box on each image" in page_text(at)
    box = at.checkbox(key=f"hist_sel_{ids[0]}")
    assert box.label == "Select a fox (3 of 3)"  # newest first: the first made is last
    at = box.check().run()
    at = at.checkbox(key=f"hist_sel_{ids[2]}").check().run()
    assert "2 images selected." in page_text(at)
    at = at.button(key="hist_sel_delete").click().run()
    assert not at.exception
    assert "Deleted 2 images." in page_text(at)
    left = {j.id for j in studio.jobs(ada)}
    assert left == {ids[1], owl}
    assert blobs.size(jobs[ids[0]].result_path or "") is None
    assert blobs.size(jobs[ids[1]].result_path or "") is not None


def test_select_the_page_star_it_and_clear(studio: Studio) -> None:
    ada, _bob = people(studio)
    ids = submit(studio, ada, "a fox", count=2)
    studio.wait_finished(ada)
    at = select_mode(studio.app(ada, HISTORY))
    at = at.button(key="hist_sel_page").click().run()
    assert "2 images selected." in page_text(at)
    assert all(at.checkbox(key=f"hist_sel_{i}").value for i in ids)
    at = at.button(key="hist_sel_star").click().run()
    assert "Added 2 images to favourites." in page_text(at)
    assert all(studio.services.jobs.get_job(ada.user, i).starred for i in ids)
    at = at.button(key="hist_sel_clear").click().run()
    assert not any(at.checkbox(key=f"hist_sel_{i}").value for i in ids)
    at = at.toggle(key="hist_selecting").set_value(False).run()
    assert not [c for c in at.checkbox if (c.key or "").startswith("hist_sel_")]


def test_past_the_zip_cap_it_says_so_instead_of_offering_the_download(
    studio: Studio, monkeypatch
) -> None:
    ada, _bob = people(studio)
    ids = submit(studio, ada, "a fox", count=2)
    studio.wait_finished(ada)
    at = select_mode(studio.app(ada, HISTORY))
    at = at.button(key="hist_sel_page").click().run()
    assert "Download the selection as a zip" in str(at.get("download_button"))
    monkeypatch.setattr(selection, "ZIP_CAP_BYTES", 10)
    monkeypatch.setattr(selection.check_zip, "__kwdefaults__", {"cap": 10})
    at = at.checkbox(key=f"hist_sel_{ids[0]}").uncheck().run()
    assert "one zip holds at most" in page_text(at)
    assert "Download the selection as a zip" not in str(at.get("download_button"))
