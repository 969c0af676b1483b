"""AppTest of the Review and Admin pages per role: a user sees neither, a reviewer sees Review
only, an admin both; and the pages' main flows through their widgets."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core.domain.models import JobStatus, ReviewStatus, User
from core.runtime import Runtime, install_runtime, shutdown_runtime
from tests.admin.conftest import Deployment
from tests.constants import PASSWORD
from tests.constants import REPO_ROOT as ROOT

TIMEOUT = 30


@pytest.fixture
def app(dep: Deployment) -> Iterator[Deployment]:
    """`dep` installed as the process's runtime, so the pages talk to it."""
    runtime = Runtime(dep.settings, dep.backend, dep.services.jobs.providers, dep.services)
    install_runtime(runtime)
    try:
        yield dep
    finally:
        shutdown_runtime()


def signed_in(user: User, script: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=TIMEOUT)
    token = _session_token(user)
    at.session_state["auth_session_token"] = token
    return at


def _session_token(user: User) -> str:
    from core.runtime import get_runtime

    return get_runtime().services.accounts.sign_in(user.email, PASSWORD).session_token


def texts(at: AppTest) -> str:
    parts = (
        [e.value for e in at.markdown] + [e.value for e in at.text] + [e.value for e in at.title]
    )
    parts += (
        [e.value for e in at.error] + [e.value for e in at.success] + [e.value for e in at.info]
    )
    parts += [e.value for e in at.caption] + [e.value for e in at.code]
    return "\n".join(str(p) for p in parts).replace("\\", "")  # undo Markdown escapes


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; have {[b.label for b in at.button]}"
    return matches[0]


def open_ids(at: AppTest) -> list[str]:
    """The job of each Review tile (its open button), in order."""
    prefix = "rev_open_"
    return [b.key[len(prefix) :] for b in at.button if (b.key or "").startswith(prefix)]


def tile_prompts(at: AppTest) -> list[str]:
    """The prompt on each Review tile (its open button's text), in order."""
    return [b.label for b in at.button if (b.key or "").startswith("rev_open_")]


def tile_lines(at: AppTest) -> list[str]:
    """The line under each tile's image (the owner's email), as sent to the browser."""
    bodies = [str(h.proto.body) for h in at.get("html")]
    return [b for b in bodies if "tile-line" in b and "<style>" not in b]


# ---- who sees what ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "review", "admin"),
    [("alice", False, False), ("reviewer", True, False), ("admin", True, True)],
)
def test_the_router_offers_review_and_admin_by_role(app: Deployment, who, review, admin):
    for page, allowed in (("pages/review.py", review), ("pages/admin.py", admin)):
        # A fresh session per page: after a page switch AppTest lists every file in pages/.
        at = signed_in(getattr(app, who), "streamlit_app.py").run()
        assert not at.exception
        if allowed:
            at.switch_page(page).run()
            assert not at.exception
            assert at.title[0].value == ("Review" if "review" in page else "Admin")
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(page)


@pytest.mark.parametrize(
    ("who", "page", "allowed"),
    [
        ("alice", "pages/review.py", False),
        ("alice", "pages/admin.py", False),
        ("reviewer", "pages/review.py", True),
        ("reviewer", "pages/admin.py", False),
        ("admin", "pages/review.py", True),
        ("admin", "pages/admin.py", True),
    ],
)
def test_each_page_checks_the_role_itself(app: Deployment, who, page, allowed):
    app.finished(app.bob, 1, status=JobStatus.FAILED, age=timedelta(days=3))
    at = signed_in(getattr(app, who), page).run()
    assert not at.exception
    if allowed:
        assert at.title and not at.error
    else:
        assert not at.title and not at.button and not at.dataframe
        assert "for the" in at.error[0].value


def test_a_signed_out_visitor_sees_nothing_of_either_page(app: Deployment):
    for page in ("pages/review.py", "pages/admin.py"):
        at = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT).run()
        assert not at.exception
        assert not at.title and not at.button
        assert "signed out" in at.info[0].value


# ---- review -------------------------------------------------------------------------------------


def test_a_reviewer_approves_from_the_open_view_and_the_next_image_opens(app: Deployment):
    first, second = app.finished(app.alice, 2, prompt="**not bold** <b>x</b>")
    app.backdate([first.id], timedelta(hours=2))
    app.backdate([second.id], timedelta(hours=1))
    at = signed_in(app.reviewer, "pages/review.py").run()
    # Whose image it is, on each tile, as plain text (never a mailto link).
    assert tile_lines(at) == ['<div class="tile-line">alice@example.com</div>'] * 2

    assert open_ids(at) == [first.id, second.id]  # oldest first
    at.button(key=f"rev_open_{first.id}").click().run()
    assert at.query_params.get("job") == first.id  # the opened image is in the URL
    assert "**not bold** <b>x</b>" in [c.value for c in at.code]  # plain text, not Markdown
    at.text_input(key=f"review_note_{first.id}").input("sharp and on brief")
    button(at, "Approve").click().run()

    assert not at.exception
    assert "1 image approved." in texts(at)
    assert at.query_params.get("job") == second.id  # the next one opens
    assert open_ids(at) == [second.id]  # the approved one left the unreviewed queue
    stored = app.job(first.id)
    assert stored.review_status is ReviewStatus.APPROVED
    assert stored.reviewed_by == app.reviewer.id and stored.review_note == "sharp and on brief"


def test_a_reviewer_flags_a_selection_and_compares_it(app: Deployment):
    jobs = app.finished(app.bob, 3)
    at = signed_in(app.reviewer, "pages/review.py").run()
    for job in jobs[:2]:
        at.checkbox(key=f"review_sel_{job.id}").check()
    at.run()
    assert "2 selected" in texts(at)

    button(at, "Compare side by side").click().run()
    assert not at.exception
    assert len([c for c in at.code]) == 2
    button(at, "Back to the queue").click().run()

    for job in jobs[:2]:
        at.checkbox(key=f"review_sel_{job.id}").check()
    at.run()
    button(at, "Flag").click().run()
    assert not at.exception
    assert {app.job(j.id).review_status for j in jobs[:2]} == {ReviewStatus.FLAGGED}
    assert app.job(jobs[2].id).review_status is ReviewStatus.UNREVIEWED
    # The default queue shows unreviewed images only.
    assert open_ids(at) == [jobs[2].id]


def test_the_review_filters_narrow_the_queue(app: Deployment):
    app.finished(app.alice, 1, prompt="a blue whale")
    app.finished(app.bob, 1, prompt="a red fox")
    at = signed_in(app.reviewer, "pages/review.py").run()
    at.text_input(key="rev_text").input("FOX").run()
    assert tile_prompts(at) == ["a red fox"]
    at.text_input(key="rev_text").input("").run()
    at.selectbox(key="rev_user").select("alice@example.com").run()
    assert tile_prompts(at) == ["a blue whale"]
    at.selectbox(key="rev_status").select("approved").run()
    assert "Nothing to review here." in texts(at)

    # A link with the filters in its address (a reload, a shared link) shows them.
    linked = signed_in(app.reviewer, "pages/review.py")
    linked.query_params["rev_text"] = "whale"
    linked.run()
    assert linked.text_input(key="rev_text").value == "whale"
    assert tile_prompts(linked) == ["a blue whale"]


def test_a_shared_review_link_opens_the_image_and_moves_keep_the_url(app: Deployment):
    jobs = app.finished(app.bob, 3, prompt="a gull")
    for age, job in zip((3, 2, 1), jobs, strict=True):
        app.backdate([job.id], timedelta(hours=age))
    at = signed_in(app.reviewer, "pages/review.py")
    at.query_params["job"] = jobs[1].id  # a link another reviewer sent
    at.run()
    assert not at.exception
    assert "Note (optional)" in [t.label for t in at.text_input]
    assert at.text_input(key=f"review_note_{jobs[1].id}")
    at.button(key="rev_next").click().run()  # → (the button's shortcut is the Right key)
    assert at.query_params.get("job") == jobs[2].id
    assert at.button(key="rev_next").disabled  # the last of the grid
    at.button(key="rev_prev").click().run()
    at.button(key="rev_prev").click().run()
    assert at.query_params.get("job") == jobs[0].id
    assert at.button(key="rev_prev").disabled


def test_closing_returns_to_the_grid_with_its_filters(app: Deployment):
    app.finished(app.alice, 1, prompt="a blue whale")
    (fox,) = app.finished(app.bob, 1, prompt="a red fox")
    at = signed_in(app.reviewer, "pages/review.py").run()
    at.text_input(key="rev_text").input("fox").run()
    at.button(key=f"rev_open_{fox.id}").click().run()
    assert at.query_params.get("job") == fox.id
    at.button(key="rev_back").click().run()
    assert "job" not in at.query_params
    assert not [w for w in at.text_input if (w.key or "").startswith("review_note_")]
    assert at.text_input(key="rev_text").value == "fox"
    assert tile_prompts(at) == ["a red fox"]


def test_deciding_the_last_image_returns_to_the_grid(app: Deployment):
    (job,) = app.finished(app.alice, 1, prompt="a lone tree")
    at = signed_in(app.reviewer, "pages/review.py")
    at.query_params["job"] = job.id
    at.run()
    button(at, "Reject").click().run()
    assert not at.exception
    assert "job" not in at.query_params
    assert "1 image rejected." in texts(at)
    assert "Nothing to review here." in texts(at)
    assert app.job(job.id).review_status is ReviewStatus.REJECTED


@pytest.mark.parametrize("wrong", ["00000000-0000-4000-8000-000000000000", "../admin", "1; drop"])
def test_a_link_to_no_image_shows_the_grid_with_a_notice(app: Deployment, wrong: str):
    (job,) = app.finished(app.alice, 1, prompt="still here")
    at = signed_in(app.reviewer, "pages/review.py")
    at.query_params["job"] = wrong
    at.run()
    assert not at.exception
    assert "job" not in at.query_params
    assert [w.value for w in at.warning] == [
        "The linked image does not exist (any more): here is the queue."
    ]
    assert open_ids(at) == [job.id]
    assert not [t for t in at.text_input if (t.key or "").startswith("review_note_")]


def test_a_deleted_image_open_in_the_dialog_says_so(app: Deployment):
    first, second = app.finished(app.alice, 2, prompt="short-lived")
    at = signed_in(app.reviewer, "pages/review.py")
    at.query_params["job"] = first.id
    at.run()
    app.services.jobs.delete(app.alice, first.id)
    at.run()
    assert not at.exception
    assert "job" not in at.query_params
    assert open_ids(at) == [second.id]


def test_a_user_following_a_review_link_sees_no_image(app: Deployment):
    (job,) = app.finished(app.bob, 1, prompt="bob's private sketch")
    at = signed_in(app.alice, "pages/review.py")
    at.query_params["job"] = job.id
    at.run()
    assert not at.exception
    assert not at.button and not at.get("image") and not at.code
    assert "for the" in at.error[0].value


# ---- admin --------------------------------------------------------------------------------------


def admin_page(app: Deployment, section: str) -> AppTest:
    at = signed_in(app.admin, "pages/admin.py").run()
    at.radio(key="admin_section").set_value(section).run()
    assert not at.exception
    return at


def test_an_admin_previews_then_purges_old_failed_jobs(app: Deployment):
    old = app.finished(app.bob, 3, status=JobStatus.FAILED, age=timedelta(days=2))
    recent = app.finished(app.bob, 1, status=JobStatus.FAILED)[0]
    at = admin_page(app, "Purge")

    button(at, "Preview").click().run()
    assert "This deletes 3 job(s)" in texts(at)
    assert all(app.backend.jobs.get_job(j.id) for j in old)  # nothing before confirming

    button(at, "Delete them").click().run()
    assert not at.exception
    assert "Purge finished: deleted 3 job(s)" in texts(at)
    assert all(app.backend.jobs.get_job(j.id) is None for j in old)
    assert app.backend.jobs.get_job(recent.id) is not None


def test_changing_the_purge_form_drops_the_preview(app: Deployment):
    app.finished(app.bob, 2, status=JobStatus.FAILED, age=timedelta(days=2))
    at = admin_page(app, "Purge")
    button(at, "Preview").click().run()
    assert "This deletes 2 job(s)" in texts(at)
    at.number_input(key="purge_age").set_value(96).run()
    assert "This deletes" not in texts(at)
    assert not [b for b in at.button if b.label == "Delete them"]


def test_an_admin_runs_a_sweep_by_hand_and_sees_it_recorded(app: Deployment):
    app.finished(app.alice, 2, status=JobStatus.FAILED, age=timedelta(days=3))
    at = admin_page(app, "Sweeper")
    assert "A sweep now would delete 2 job(s)" in texts(at)
    button(at, "Run a sweep now").click().run()
    assert not at.exception
    assert "Sweep finished: deleted 2 job(s)" in texts(at)
    runs = at.dataframe[0].value
    assert list(runs["Kind"]) == ["manual"] and list(runs["Jobs deleted"]) == [2]


def test_the_usage_section_charts_the_period(app: Deployment):
    app.finished(app.alice, 2)
    app.finished(app.bob, 1, status=JobStatus.FAILED)
    at = admin_page(app, "Usage & health")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Jobs, last 30 days"] == "3"
    assert "Failure rate overall: 33.3%" in texts(at)
    assert "No failures in this period." not in texts(at)
    top = at.dataframe[1].value
    assert list(top["user"]) == ["alice@example.com", "bob@example.com"]


def test_an_admin_changes_role_quota_and_disables_a_user(app: Deployment):
    app.queued(app.bob, 2)
    at = admin_page(app, "Users")
    at.selectbox(key="user_pick").select("bob@example.com").run()
    bob = app.bob.id
    # The global default is chosen: the field is disabled and empty, naming the default.
    field = at.number_input(key=f"edit_quota_default_{bob}")
    assert field.disabled and field.value is None
    assert field.proto.placeholder == "default (off)"
    at.radio(key=f"edit_quota_mode_{bob}").set_value("Own limit").run()
    assert not at.number_input(key=f"edit_quota_{bob}").disabled
    assert at.number_input(key=f"edit_quota_{bob}").value == 50
    at.selectbox(key=f"edit_role_{bob}").select("reviewer")
    at.number_input(key=f"edit_quota_{bob}").set_value(7)
    at.checkbox(key=f"edit_disabled_{bob}").check()
    next(b for b in at.button if b.label == "Save").click().run()

    assert not at.exception
    assert "queued job(s) canceled" in texts(at)
    # The address is a code span: Markdown would turn a bare one into a mailto link.
    assert [m.value.split(": ")[0] for m in at.success] == ["` bob@example.com `"]
    bob = app.user(app.bob.id)
    assert (bob.role.value, bob.daily_quota, bob.disabled) == ("reviewer", 7, True)


def test_the_last_admin_cannot_demote_themselves_from_the_page(app: Deployment):
    at = admin_page(app, "Users")
    at.selectbox(key="user_pick").select("admin@example.com").run()
    at.selectbox(key=f"edit_role_{app.admin.id}").select("user")
    next(b for b in at.button if b.label == "Save").click().run()
    assert "last admin" in texts(at)
    assert app.user(app.admin.id).role.value == "admin"


def test_switching_the_edited_user_shows_that_users_values(app: Deployment):
    app.services.admin.set_daily_quota(app.admin, app.bob.id, 9)
    at = admin_page(app, "Users")
    at.selectbox(key="user_pick").select("reviewer@example.com").run()
    assert at.selectbox(key=f"edit_role_{app.reviewer.id}").value == "reviewer"
    assert at.radio(key=f"edit_quota_mode_{app.reviewer.id}").value == "Global default"
    at.selectbox(key="user_pick").select("bob@example.com").run()
    assert at.selectbox(key=f"edit_role_{app.bob.id}").value == "user"
    assert at.number_input(key=f"edit_quota_{app.bob.id}").value == 9


def test_no_failures_means_no_chart_of_zeros(app: Deployment):
    app.finished(app.alice, 2)
    at = admin_page(app, "Usage & health")
    assert "No failures in this period." in texts(at)
    assert "Failure rate overall: 0.0%" in texts(at)
    # Jobs per day and latency only: no failure-rate chart (its axis would read "0.000000").
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert [s["encoding"]["x"]["field"] for s in specs] == ["day", "provider"]
    assert all("failure rate" not in json.dumps(s).lower() for s in specs)


def test_the_charts_follow_the_theme(app: Deployment):
    """Streamlit's chart theme (the app's fonts, text and grid colours, and the palette set as
    theme.chartCategoricalColors in .streamlit/config.toml), no colour of their own."""
    app.finished(app.alice, 2)
    app.finished(app.bob, 1, status=JobStatus.FAILED)
    at = admin_page(app, "Usage & health")
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # per day, failure rate, latency
    for chart in charts:
        assert chart.proto.theme == "streamlit"
        spec = json.loads(chart.proto.spec)
        assert "config" not in spec
        assert all("scale" not in enc or not enc["scale"] for enc in spec["encoding"].values())
        assert "value" not in spec["encoding"].get("color", {})
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["theme"]["chartCategoricalColors"][0] == config["theme"]["primaryColor"]


def test_the_sweeper_section_says_what_runs_in_this_process(app: Deployment):
    at = admin_page(app, "Sweeper")  # the deployment runs neither a worker nor a sweeper
    assert "Sweeper in this process: not running" in texts(at)
    assert "Worker in this process: not running" in texts(at)


def test_an_admin_makes_a_one_time_reset_link_shown_once(app: Deployment):
    at = admin_page(app, "Users")
    at.selectbox(key="user_pick").select("bob@example.com").run()
    assert not at.code
    button(at, "Reset link").click().run()

    assert not at.exception
    link = at.code[0].value
    assert link.startswith("/?reset=") and "Shown once" in texts(at)
    app.services.accounts.reset_password(link.removeprefix("/?reset="), "a brand new passphrase")
    app.services.accounts.sign_in("bob@example.com", "a brand new passphrase")
    at.run()  # any later run: the link is gone
    assert not at.code and link not in texts(at)
