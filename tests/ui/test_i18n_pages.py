"""Issue #14: every converted screen rendered in zh-CN shows no English UI word. The rendered
text (titles, bodies, labels, options, placeholders, help, table headers) is scanned for the
words of the English catalogue that the Chinese catalogue does not use itself (names such as
API, DAILY_QUOTA or zip are the same in both). Converting a further page means adding its
screens to SCREENS. Also: the language comes from the browser, the profile and the switcher."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from core.domain.models import JobKind, JobRequest, Role
from pages import iterate
from pages.i18n import LANG_KEY, LANGUAGE_NAMES, catalogue
from tests.constants import PASSWORD
from tests.constants import REPO_ROOT as REPO
from tests.ui.conftest import ROUTER, TOKEN_KEY, Person, Studio
from tests.ui.helpers import button, rerun_until

WORD = re.compile(r"[A-Za-z][A-Za-z']{2,}")
# Proto fields that carry text a person reads (not ids, keys, icons or autocomplete hints).
TEXT_FIELDS = {"body", "label", "options", "placeholder", "help", "text", "value", "caption"}
EMAIL_OR_URL = re.compile(r"\S+@\S+|https?://\S+|/api/\S*|`[^`]*`|:material/\w+:|:\w+-badge\[")


def _words(messages: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for message in messages.values():
        texts = [message] if isinstance(message, str) else list(message.values())
        for text in texts:
            text = re.sub(r"\{[^}]*\}", " ", text)  # placeholders are not words
            out |= {w.lower() for w in WORD.findall(EMAIL_OR_URL.sub(" ", text))}
    return out


ZH = catalogue("zh-CN")

# English words the Chinese UI must not show: in the English catalogue, not in the Chinese one
# (which keeps names like API, UTC, DAILY_QUOTA), and not a language's own name in the switcher.
ENGLISH_ONLY = (
    _words(catalogue("en"))
    - _words(catalogue("zh-CN"))
    - {w.lower() for name in LANGUAGE_NAMES.values() for w in WORD.findall(name)}
)


@dataclass(frozen=True)
class Screen:
    """One state of a converted page: the script AppTest runs, who is signed in, what is
    done before the first run (query parameters) and after it (clicks)."""

    name: str
    script: str
    role: Role | None = Role.USER
    before: Callable[[AppTest], None] = lambda at: None
    steps: Callable[[AppTest], AppTest] = lambda at: at
    data: Callable[[Studio, Person], None] = lambda studio, person: None
    sidebar_only: bool = False  # scan only the sidebar (the router's, beside another page)
    must_show: tuple[str, ...] = field(default=())


def _wrong_password(at: AppTest) -> AppTest:
    at.text_input(key="sign_in_email").input("nobody@example.com")
    at.text_input(key="sign_in_password").input("not the password")
    return button(at, "登录").click().run()


def _reset_link(at: AppTest) -> None:
    at.query_params["reset"] = "not-a-real-token"


def _weak_reset(at: AppTest) -> AppTest:
    at.text_input(key="reset_password").input("short")
    at.text_input(key="reset_again").input("short")
    return button(at, "设置新密码").click().run()


def _section(key: str) -> Callable[[AppTest], AppTest]:
    """Pick an admin section by its Chinese name (AppTest picks options by their label)."""

    def pick(at: AppTest) -> AppTest:
        at.radio(key="admin_section").set_value(ZH[key]).run()
        return at

    return pick


def _purge_preview(at: AppTest) -> AppTest:
    at.multiselect(key="purge_statuses").set_value([ZH["status.done"], ZH["status.failed"]]).run()
    at.number_input(key="purge_age").set_value(0).run()
    return button(at, "预览").click().run()


def _some_jobs(studio: Studio, person: Person) -> None:
    request = JobRequest(provider="demo", model="demo-pattern", prompt="测试 [fail:safety]")
    studio.services.jobs.submit(person.user, request, count=2)
    studio.services.jobs.submit(person.user, JobRequest("demo", "demo-pattern", "一只猫"), count=2)
    studio.wait_finished(person)


def _change_password_mismatch(at: AppTest) -> AppTest:
    at.text_input(key="account_current_password").input(PASSWORD)
    at.text_input(key="account_new_password").input("a new passphrase")
    at.text_input(key="account_confirm_password").input("another passphrase")
    return button(at, "更改密码").click().run()


# Every converted screen. Converting a page: add its screens here.
SCREENS = [
    Screen("sign-in", ROUTER, role=None, must_show=("登录",)),
    Screen("sign-in error", ROUTER, role=None, steps=_wrong_password, must_show=("邮箱或密码",)),
    Screen("reset password", ROUTER, role=None, before=_reset_link, must_show=("设置新密码",)),
    Screen(
        "reset refused",
        ROUTER,
        role=None,
        before=_reset_link,
        steps=_weak_reset,
        must_show=("至少 8 个字符",),
    ),
    Screen("account", "pages/account.py", must_show=("账户", "会话", "API 令牌")),
    Screen(
        "account error", "pages/account.py", steps=_change_password_mismatch, must_show=("不一致",)
    ),
    Screen("router sidebar", ROUTER, sidebar_only=True, must_show=("当前登录", "（用户）")),
    Screen(
        "admin: purge",
        "pages/admin.py",
        role=Role.ADMIN,
        data=_some_jobs,
        steps=_purge_preview,
        must_show=("清理旧任务", "将删除"),
    ),
    Screen(
        "admin: sweeper",
        "pages/admin.py",
        role=Role.ADMIN,
        steps=_section("admin.section_sweeper"),
        must_show=("保留期清理",),
    ),
    Screen(
        "admin: usage",
        "pages/admin.py",
        role=Role.ADMIN,
        data=_some_jobs,
        steps=_section("admin.section_usage"),
        must_show=("用量与健康", "失败率"),
    ),
    Screen(
        "admin: users",
        "pages/admin.py",
        role=Role.ADMIN,
        steps=_section("admin.section_users"),
        must_show=("编辑用户", "重置链接"),
    ),
]


# ---- round two: Edit, Compare, the Edit / Variations actions -------------------------------

_HELD: dict[str, str] = {}  # what a screen's data made, for its `before` (one screen at a time)


def _finished_poster(studio: Studio, person: Person) -> None:
    request = JobRequest(provider="demo", model="demo-poster", prompt="一座灯塔")
    _HELD["job"] = studio.services.jobs.submit(person.user, request)[0].id
    studio.wait_finished(person)


def _open_held_job(at: AppTest) -> None:
    at.query_params["job"] = _HELD["job"]


def _rerun_until_key(at: AppTest, prefix: str) -> AppTest:
    """Rerun until buttons keyed `prefix…` are shown and all can be pressed.

    Compare's "keep" buttons appear as each job finishes but stay disabled until the
    whole comparison has, so "shown" alone raced the second job.
    """

    def pressable(at: AppTest) -> bool:
        found = [b for b in at.button if (b.key or "").startswith(prefix)]
        return bool(found) and not any(b.disabled for b in found)

    return rerun_until(at, pressable)


def _edit_whole(at: AppTest) -> AppTest:
    at.text_area(key="edit_prompt").input("换成夜景")
    button(at, "编辑图片").click().run()
    return _rerun_until_key(at, "edit_res_")


def _references_mode(at: AppTest) -> AppTest:
    return at.segmented_control(key="edit_mode").set_value("references").run()


def _compare_two(at: AppTest) -> AppTest:
    at.text_area(key="cmp_prompt").input("雪中的狐狸")
    at.multiselect(key="cmp_pairs").set_value([("demo", "demo-pattern"), ("demo", "demo-poster")])
    button(at, "比较").click().run()
    return _rerun_until_key(at, "cmp_keep_")


def _keep_first(at: AppTest) -> AppTest:
    _compare_two(at)
    next(b for b in at.button if (b.key or "").startswith("cmp_keep_")).click().run()
    return at


def _vary_held_job(studio: Studio, person: Person) -> None:
    _finished_poster(studio, person)
    parent = studio.services.jobs.get_job(person.user, _HELD["job"])
    request = JobRequest("", "", "", kind=JobKind.VARIATION, parent_id=parent.id)
    _HELD["variations"] = ",".join(
        j.id for j in studio.services.jobs.submit_iteration(person.user, request, count=2)
    )
    studio.wait_finished(person)


def _show_variations(at: AppTest) -> None:
    at.session_state[iterate.RESULTS_KEY] = {
        "job_ids": _HELD["variations"].split(","),
        "made_by": "variations",
        "prompt": "一座灯塔",
    }


def _an_endpoint(studio: Studio, person: Person) -> None:
    studio.services.webhooks.create_endpoint(person.user, "https://hooks.example.com/a", ["*"])


ROUND_TWO = [
    Screen("edit: upload", "pages/edit.py", must_show=("编辑", "上传图片", "要修改什么")),
    Screen(
        "edit: a finished image",
        "pages/edit.py",
        data=_finished_poster,
        before=_open_held_job,
        must_show=("正在编辑：一座灯塔", "画笔大小", "或上传蒙版"),
    ),
    Screen(
        "edit: results",
        "pages/edit.py",
        data=_finished_poster,
        before=_open_held_job,
        steps=_edit_whole,
        must_show=("结果", "变体", "生成变体"),
    ),
    Screen(
        "edit: variations",
        "pages/edit.py",
        data=_vary_held_job,
        before=_show_variations,
        must_show=("“一座灯塔”的变体",),
    ),
    Screen("edit: references", "pages/edit.py", steps=_references_mode, must_show=("参考图",)),
    Screen("compare", "pages/compare.py", must_show=("比较服务商", "演示图案")),
    Screen(
        "compare: results", "pages/compare.py", steps=_compare_two, must_show=("保留这张", "免费")
    ),
    Screen("compare: kept", "pages/compare.py", steps=_keep_first, must_show=("已保留",)),
    Screen(
        "account: webhooks",
        "pages/account.py",
        data=_an_endpoint,
        must_show=("Webhook", "添加端点", "任务已排队", "已启用", "还没有投递"),
    ),
]
SCREENS += ROUND_TWO


# ---- round three: Generate (the feed, the gallery tiles), History (gallery and lightbox) ------


def _failed_job(studio: Studio, person: Person) -> None:
    request = JobRequest(provider="demo", model="demo-pattern", prompt="测试 [fail:safety]")
    _HELD["job"] = studio.services.jobs.submit(person.user, request)[0].id
    studio.wait_finished(person)


def _generate_twice(at: AppTest) -> AppTest:
    at.text_area(key="gen_prompt").input("一只猫")
    button(at, "生成").click().run()
    return button(at, "生成").click().run()  # the same form again at once: already submitted


def _open_variation(at: AppTest) -> None:
    at.query_params["job"] = _HELD["variations"].split(",")[0]


def _filter_nothing(at: AppTest) -> AppTest:
    return at.text_input(key="hist_text").input("没有这样的提示词").run()


def _filter_options(at: AppTest) -> AppTest:
    at.multiselect(key="hist_status").set_value([ZH["status.done"]]).run()
    return at.multiselect(key="hist_kind").set_value([ZH["kind.variation"]]).run()


ROUND_THREE = [
    Screen("generate", "pages/generate.py", must_show=("生成", "最近的图片", "选项", "图片数量")),
    Screen(
        "generate: the feed",
        "pages/generate.py",
        data=_some_jobs,
        must_show=("张图片", "服务商的安全过滤拦截了这张图片", "一只猫"),
    ),
    Screen(
        "generate: already submitted",
        "pages/generate.py",
        steps=_generate_twice,
        must_show=("已经提交过",),
    ),
    Screen("history: empty", "pages/history.py", must_show=("历史", "你还没有图片", "前往生成")),
    Screen(
        "history: gallery",
        "pages/history.py",
        data=_some_jobs,
        must_show=("筛选", "搜索提示词", "服务商的安全过滤拦截了这张图片"),
    ),
    Screen(
        "history: no match",
        "pages/history.py",
        data=_some_jobs,
        steps=_filter_nothing,
        must_show=("没有符合这些筛选条件的任务。", "清除筛选"),
    ),
    Screen(
        "history: filters",
        "pages/history.py",
        data=_vary_held_job,
        steps=_filter_options,
        must_show=("已完成", "变体"),
    ),
    Screen(
        "history: lightbox",
        "pages/history.py",
        data=_finished_poster,
        before=_open_held_job,
        must_show=("**提示词**", "上一张", "使用此提示词", "审核：未审核"),
    ),
    Screen(
        "history: a failed job",
        "pages/history.py",
        data=_failed_job,
        before=_open_held_job,
        must_show=("没有图片：服务商的安全过滤拦截了这张图片", "重试"),
    ),
    Screen(
        "history: a variation",
        "pages/history.py",
        data=_vary_held_job,
        before=_open_variation,
        must_show=("**来源**", "变体：一座灯塔"),
    ),
]
SCREENS += ROUND_THREE


def _open_for_review(at: AppTest) -> None:
    at.query_params["job"] = _HELD["job"]


def _link_to_no_image(at: AppTest) -> None:
    at.query_params["job"] = "00000000-0000-4000-8000-000000000000"


def _select_for_review(at: AppTest) -> AppTest:
    return at.checkbox(key=f"review_sel_{_HELD['job']}").check().run()


def _approve(at: AppTest) -> AppTest:
    return button(at, "通过").click().run()


REVIEW_SCREENS = [
    Screen("review: empty", "pages/review.py", role=Role.ADMIN, must_show=("审核", "没有需要审核")),
    Screen(
        "review: queue",
        "pages/review.py",
        role=Role.ADMIN,
        data=_finished_poster,
        must_show=("筛选", "审核状态", "所有人", "未审核", "选择「"),
    ),
    Screen(
        "review: a selection",
        "pages/review.py",
        role=Role.ADMIN,
        data=_finished_poster,
        steps=_select_for_review,
        must_show=("已选择 1 张", "并排比较"),
    ),
    Screen(
        "review: one image",
        "pages/review.py",
        role=Role.ADMIN,
        data=_finished_poster,
        before=_open_for_review,
        must_show=("返回审核队列", "备注（可选）", "**提示词**", "尝试次数"),
    ),
    Screen(
        "review: approved",
        "pages/review.py",
        role=Role.ADMIN,
        data=_finished_poster,
        before=_open_for_review,
        steps=_approve,
        must_show=("已通过 1 张图片。",),
    ),
    Screen(
        "review: a link to no image",
        "pages/review.py",
        role=Role.ADMIN,
        data=_finished_poster,
        before=_link_to_no_image,
        must_show=("链接指向的图片不存在",),
    ),
]
SCREENS += REVIEW_SCREENS


def rendered_texts(at: AppTest, *, sidebar_only: bool = False) -> list[str]:
    """Every text a person reads on the screen, from the elements' protos, plus the column
    headers of tables."""
    out: list[str] = []

    def collect(value: Any, key: str | None) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                collect(v, k)
        elif isinstance(value, list):
            for v in value:
                collect(v, key)
        elif isinstance(value, str) and key in TEXT_FIELDS:
            out.append(value)

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            collect(MessageToDict(proto), None)
        if type(node).__name__ == "Dataframe":
            out.extend(str(c) for c in node.value.columns)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.sidebar if sidebar_only else at._tree)
    return out


# Not UI words: HTML markup and CSS (st.html), text quoted in “…” (what a provider wrote, shown
# as is, pages/failures.py), the demo's failure trigger in a test's prompt ("[fail:safety]") and
# model ids ("demo-poster", "chatgpt-image-latest": identifiers, like emails).
MARKUP_OR_QUOTED = re.compile(
    r"<style>.*?</style>|<[^>]+>|“[^”]*”|\[fail:\w+\]|\b[\w.]+(?:-[\w.]+)+\b", re.DOTALL
)


def english_words(texts: list[str]) -> list[str]:
    found = []
    for text in texts:
        text = MARKUP_OR_QUOTED.sub(" ", text)
        for word in WORD.findall(EMAIL_OR_URL.sub(" ", text)):
            if word.lower() in ENGLISH_ONLY:
                found.append(f"{word!r} in {text!r}")
    return found


@pytest.fixture
def zh_screen(studio: Studio) -> Iterator[Callable[[Screen], AppTest]]:
    def render(screen: Screen) -> AppTest:
        admin = studio.person("owner@example.com")  # the first account is the admin
        person = admin if screen.role is Role.ADMIN else studio.person("ada@example.com")
        screen.data(studio, person)
        at = AppTest.from_file(str(REPO / screen.script), default_timeout=30)
        at.session_state[LANG_KEY] = "zh-CN"
        if screen.role is not None:
            at.session_state[TOKEN_KEY] = person.token
        screen.before(at)
        at.run()
        return screen.steps(at)

    yield render


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: s.name)
def test_a_converted_screen_in_chinese_shows_no_english_ui_word(
    zh_screen: Callable[[Screen], AppTest], screen: Screen
) -> None:
    at = zh_screen(screen)
    assert not at.exception, at.exception
    texts = rendered_texts(at, sidebar_only=screen.sidebar_only)
    joined = "\n".join(texts)
    for expected in screen.must_show:
        assert expected in joined, (expected, texts)
    assert english_words(texts) == []


def test_the_scan_would_see_english_left_on_a_screen() -> None:
    """The check itself: English UI words are found, names and data are not."""
    assert english_words(["Sign out", "退出登录"]) == [
        "'Sign' in 'Sign out'",
        "'out' in 'Sign out'",
    ]
    assert english_words(["ada@example.com", "API 令牌", "DAILY_QUOTA", "English"]) == []
    assert {"password", "purge", "browser", "sessions"} <= ENGLISH_ONLY


def test_navigation_titles_are_translated(studio: Studio) -> None:
    from pages import widgets

    admin = studio.person("owner@example.com")
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from pages import widgets\n"
        "st.session_state['i18n_language'] = 'zh-CN'\n"
        "user = widgets.current_user()\n"
        "st.text(' / '.join(title for _p, title, _i in widgets.navigation_entries(user)))\n",
        default_timeout=30,
    )
    at.session_state[TOKEN_KEY] = admin.token
    at.run()
    assert not at.exception
    titles = at.text[0].value.split(" / ")
    assert titles[:2] == ["生成", "历史"] and titles[-1] == "账户"
    assert "管理" in titles
    assert widgets.NAVIGATION  # the same table drives both languages


# ---- where the language comes from ---------------------------------------------------------


def test_the_switcher_changes_the_language_and_keeps_the_inputs_identity(studio: Studio) -> None:
    """A keyed widget keeps its id when its label changes language, so the browser keeps
    what was typed in it (AppTest cannot hold unsubmitted form input: the e2e test types)."""
    at = AppTest.from_file(str(REPO / ROUTER), default_timeout=30).run()
    assert at.title[0].value == "Image Studio"  # AppTest's browser has no locale: English
    before = {w.key: w.id for w in at.text_input}
    at.selectbox(key="i18n_pick").set_value("zh-CN").run()
    assert at.title[0].value == "图像工作室"
    assert at.text_input(key="sign_in_email").label == "邮箱"
    assert {w.key: w.id for w in at.text_input} == before


def test_a_signed_in_users_choice_is_stored_and_used_on_another_device(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    first = AppTest.from_file(str(REPO / ROUTER), default_timeout=30)
    first.session_state[TOKEN_KEY] = ada.token
    first.run()
    first.selectbox(key="i18n_pick").set_value("zh-CN").run()
    assert studio.runtime.backend.accounts.get_user(ada.user.id).language == "zh-CN"

    # Another device: a new sign-in, no language of its own.
    other = studio.services.accounts.sign_in("ada@example.com", PASSWORD).session_token
    second = AppTest.from_file(str(REPO / "pages/account.py"), default_timeout=30)
    second.session_state[TOKEN_KEY] = other
    second.run()
    assert second.title[0].value == "账户"


def test_a_language_picked_before_signing_up_becomes_the_profiles(studio: Studio) -> None:
    studio.person("owner@example.com")
    at = AppTest.from_file(str(REPO / ROUTER), default_timeout=30).run()
    at.selectbox(key="i18n_pick").set_value("zh-CN").run()
    at.text_input(key="sign_up_email").input("bo@example.com")
    at.text_input(key="sign_up_password").input(PASSWORD)
    button(at, "创建账户").click().run()
    assert not at.exception
    user = studio.runtime.backend.accounts.find_user_by_email("bo@example.com")
    assert user is not None and user.language == "zh-CN"


def test_the_profiles_language_wins_over_the_browser_session(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    studio.services.accounts.set_language(ada.user, "zh-CN")
    at = AppTest.from_file(str(REPO / "pages/account.py"), default_timeout=30)
    at.session_state[LANG_KEY] = "en"
    at.session_state[TOKEN_KEY] = ada.token
    at.run()
    assert at.title[0].value == "账户"


def test_signing_out_keeps_the_tabs_language(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    at = AppTest.from_file(str(REPO / "pages/account.py"), default_timeout=30)
    at.session_state[LANG_KEY] = "zh-CN"
    at.session_state[TOKEN_KEY] = ada.token
    at.run()
    button(at, "退出登录").click().run()
    assert at.session_state[LANG_KEY] == "zh-CN"


@pytest.mark.parametrize("screen", [SCREENS[0], SCREENS[4], SCREENS[-1]], ids=lambda s: s.name)
def test_the_same_screens_in_english_are_full_of_english_words(
    studio: Studio, screen: Screen
) -> None:
    """The scan reads what the screens show: in English it finds plenty."""
    admin = studio.person("owner@example.com")
    at = AppTest.from_file(str(REPO / screen.script), default_timeout=30)
    at.session_state[LANG_KEY] = "en"
    if screen.role is not None:
        at.session_state[TOKEN_KEY] = admin.token
    at.run()
    if screen.name == "admin: users":
        at.radio(key="admin_section").set_value("Users").run()
    assert len(english_words(rendered_texts(at))) > 10


def test_the_lineage_strip_in_chinese(studio: Studio) -> None:
    """The lineage strip alone in zh-CN (the "history: a variation" screen shows it in place)."""
    ada = studio.person("ada@example.com")
    _vary_held_job(studio, ada)
    child = _HELD["variations"].split(",")[0]
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from pages import iterate, widgets\n"
        "user = widgets.require_user()\n"
        f"job = widgets.services().jobs.get_job(user, {child!r})\n"
        "iterate.lineage_strip(user, job, lambda job_id: None, key='strip')\n",
        default_timeout=30,
    )
    at.session_state[LANG_KEY] = "zh-CN"
    at.session_state[TOKEN_KEY] = ada.token
    at.run()
    assert not at.exception, at.exception
    texts = rendered_texts(at)
    assert "**来源**" in texts and "变体：一座灯塔" in texts, texts
    assert english_words(texts) == []


def test_recall_on_generate_in_chinese(studio: Studio) -> None:
    """Recall's expander and its notices (the Generate screens show the expander): AppTest cannot
    drop a file, so the notices are rendered from what a drop stores."""
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from pages import recall\n"
        "recall.recall_uploader()\n"
        "st.text(recall._notice_text({'source': 'a1111', 'extra': 'sampler: Euler a'}))\n"
        "st.text(recall._notice_text({'source': 'studio', 'extra': ''}))\n"
        "st.text(recall._notice_text({'source': 'elsewhere', 'extra': ''}))\n",
        default_timeout=30,
    )
    at.session_state[LANG_KEY] = "zh-CN"
    at.run()
    assert not at.exception, at.exception
    texts = rendered_texts(at)
    joined = "\n".join(texts).replace("\\", "")  # the recipe's values are Markdown-escaped
    assert "从图片中恢复设置" in joined and "未应用：sampler: Euler a" in joined, texts
    assert "已根据本工作室的图片填好表单。" in joined and "一张图片" in joined
    assert english_words([t for t in texts if "sampler" not in t]) == []


def test_edit_iterate_and_compare_errors_from_core_read_in_chinese(studio: Studio) -> None:
    """The services' refusals name their message; widgets.error_text says it in Chinese."""
    from core.domain.errors import StudioError
    from core.services.inputs import Inputs

    ada = studio.person("ada@example.com")
    jobs = studio.services.jobs
    plain = jobs.submit(ada.user, JobRequest("demo", "demo-pattern", "一只猫"))[0]
    studio.wait_finished(ada)
    attempts = {
        "variation_needs_parent": lambda: jobs.submit_iteration(
            ada.user, JobRequest("demo", "demo-poster", "x", kind=JobKind.VARIATION)
        ),
        "edit_needs_image": lambda: jobs.submit_iteration(
            ada.user, JobRequest("demo", "demo-poster", "x", kind=JobKind.EDIT)
        ),
        "references_missing": lambda: jobs.submit_iteration(
            ada.user,
            JobRequest("demo", "demo-poster", "x", kind=JobKind.REFERENCE),
            images=Inputs(),
        ),
        "compare_pairs": lambda: jobs.submit_comparison(ada.user, "x", [("demo", "demo-pattern")]),
        "keep_not_comparison": lambda: jobs.keep_winner(ada.user, plain.id),
    }
    shown = []
    for reason, attempt in attempts.items():
        with pytest.raises(StudioError) as caught:
            attempt()
        assert caught.value.reason == reason
        shown.append(caught.value)
    at = AppTest.from_string(
        "import streamlit as st\n"
        "from pages import widgets\n"
        "for error in st.session_state['errors']:\n"
        "    widgets.show_error(error)\n",
        default_timeout=30,
    )
    at.session_state[LANG_KEY] = "zh-CN"
    at.session_state["errors"] = shown
    at.run()
    assert not at.exception, at.exception
    texts = [e.value for e in at.error]
    assert len(texts) == len(shown) and all(re.search(r"[\u4e00-\u9fff]", t) for t in texts)
    assert english_words(texts) == []
