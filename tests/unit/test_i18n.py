"""The message catalogue (pages/locales/*.toml) and the i18n module (pages/i18n.py): every key
in both languages with the same placeholders, no unused key, no reason core raises without
words, no translated fragments glued together; and Babel's plurals, dates, numbers, sizes and
relative times per language."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.domain import policy
from core.domain.errors import NotFound, RateLimited, StudioError, ValidationError
from pages import i18n
from pages.i18n import LANGUAGES, Translator, catalogue, negotiate, placeholders, translator
from tests.constants import REPO_ROOT

# The UI's code: every literal key it names counts as used.
UI_FILES = sorted([REPO_ROOT / "streamlit_app.py", *(REPO_ROOT / "pages").glob("*.py")])
CORE_FILES = sorted((REPO_ROOT / "core").rglob("*.py"))
EN, ZH = catalogue("en"), catalogue("zh-CN")


def _strings(files: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def _core_reasons() -> set[str]:
    """Every reason core gives an error by name: the string literals of `reason=…` arguments
    (and of `reason = …` in core/domain/errors.py, for a class's default message). An error
    raised without one has no catalogue words; the UI shows core's English message."""
    reasons: set[str] = set()
    for path in CORE_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value: ast.AST | None = None
            if (isinstance(node, ast.keyword) and node.arg == "reason") or (
                path.name == "errors.py"
                and isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "reason" for t in node.targets)
            ):
                value = node.value
            for sub in ast.walk(value) if value is not None else ():
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    reasons.add(sub.value)
    return reasons


def test_every_key_is_in_both_languages() -> None:
    assert sorted(set(EN) - set(ZH)) == []
    assert sorted(set(ZH) - set(EN)) == []


@pytest.mark.parametrize("key", sorted(EN))
def test_both_languages_use_the_same_placeholders(key: str) -> None:
    assert placeholders(EN[key]) == placeholders(ZH[key]), key


def test_plural_messages_have_the_forms_their_language_needs_and_a_count() -> None:
    for lang, messages in (("en", EN), ("zh-CN", ZH)):
        forms = set(translator(lang).locale.plural_form.rules) | {"other"}
        for key, message in messages.items():
            if isinstance(message, str):
                continue
            assert set(message) >= forms, (lang, key)
            assert "count" in placeholders(message), (lang, key)


def test_no_message_is_empty_and_chinese_is_not_a_copy_of_english() -> None:
    assert all(EN.values()) and all(ZH.values())
    # Chinese messages with words of their own (a few are pure placeholders or names).
    same = sorted(k for k in EN if EN[k] == ZH[k] and re.search(r"[A-Za-z]{3}", str(EN[k])))
    assert same == [], same


def test_every_key_is_used_by_the_ui_or_names_an_error_of_core() -> None:
    used = _strings(UI_FILES) | {f"error.{reason}" for reason in _core_reasons()}
    assert sorted(set(EN) - used) == []


def test_every_key_the_ui_names_exists() -> None:
    """Literal keys passed to t() exist (a typo would show the key itself)."""
    missing = []
    for path in UI_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "t"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value not in EN
            ):
                missing.append(f"{path.name}:{node.lineno} {node.args[0].value}")
    assert missing == []


def test_every_reason_core_raises_has_words_in_both_languages() -> None:
    """So the UI never falls back to English for an error core raises by name."""
    missing = sorted(r for r in _core_reasons() if f"error.{r}" not in EN)
    assert missing == []


def _is_t_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id in {"t", "_label", "role_name"})
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "role_name")
    )


def _glued(tree: ast.AST) -> list[int]:
    """Lines where a translated text is joined to something with +, +=, an f-string or
    str.join instead of being one message with placeholders."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if _is_t_call(node.left) or _is_t_call(node.right):
                lines.append(node.lineno)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            if any(_is_t_call(sub) for sub in ast.walk(node.value)):
                lines.append(node.lineno)
        elif isinstance(node, ast.JoinedStr):
            # One whole message wrapped in markup (f'<a href="/">{escape(t(...))}</a>') is
            # fine; words around it, or two messages in one f-string, are glued text.
            calls = [sub for sub in ast.walk(node) if _is_t_call(sub)]
            literal = "".join(
                part.value
                for part in node.values
                if isinstance(part, ast.Constant) and isinstance(part.value, str)
            )
            words = re.sub(r"<[^>]*>", "", literal).strip()
            if len(calls) > 1 or (calls and words):
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join"
            and any(_is_t_call(sub) for arg in node.args for sub in ast.walk(arg))
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_no_text_is_built_by_gluing_translated_fragments(path: Path) -> None:
    assert _glued(ast.parse(path.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize(
    "source",
    [
        't("a") + " " + t("b")',
        'x = t("a")\nx += t("b")',
        "f\"{t('a')}: {name}\"",
        "f\"<b>{t('a')}</b><i>{t('b')}</i>\"",
        '", ".join([t("a"), t("b")])',
        'label = "x" + _label(LABELS, v)',
    ],
)
def test_the_gluing_check_catches_each_way_of_gluing(source: str) -> None:
    assert _glued(ast.parse(source)) != []


def test_the_gluing_check_lets_one_message_with_placeholders_pass() -> None:
    assert _glued(ast.parse('t("a", name=t("b"), items=fmt_list([t("c"), t("d")]))')) == []
    assert _glued(ast.parse('f\'<p><a href="/">{escape(t("a"))}</a></p>\'')) == []


# ---- the Translator ------------------------------------------------------------------------


def test_placeholders_are_filled_and_plurals_follow_the_language() -> None:
    en, zh = translator("en"), translator("zh-CN")
    assert en("account.others_signed_out", count=1) == "Signed out 1 other browser."
    assert en("account.others_signed_out", count=3) == "Signed out 3 other browsers."
    assert en("account.others_signed_out", count=1200) == "Signed out 1,200 other browsers."
    assert zh("account.others_signed_out", count=1) == "已让其他 1 个浏览器退出登录。"
    assert zh("pager.page", number=2) == "第 2 页"


def test_an_unknown_key_shows_itself() -> None:
    assert translator("zh-CN")("no.such.key") == "no.such.key"


def test_translators_are_one_shared_immutable_object_per_language() -> None:
    assert translator("zh-CN") is translator("zh-CN")
    assert translator("en") is not translator("zh-CN")
    with pytest.raises(AttributeError):
        translator("en").language = "zh-CN"  # type: ignore[misc]
    with pytest.raises(ValueError):
        catalogue("fr")


@pytest.mark.parametrize(
    ("browser", "expected"),
    [
        ("zh-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh_SG", "zh-CN"),
        ("ZH-TW", "zh-CN"),
        ("en-US", "en"),
        ("en", "en"),
        ("fr-FR", "en"),
        ("zhx", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_the_browser_language_picks_the_studio_language(browser: str | None, expected: str) -> None:
    assert negotiate(browser) == expected


def test_relative_times_in_both_languages() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    en, zh = translator("en"), translator("zh-CN")
    assert en.ago(now - timedelta(minutes=3), now) == "3 minutes ago"
    assert zh.ago(now - timedelta(minutes=3), now) == "3分钟前"
    assert en.ago(now - timedelta(days=2), now) == "2 days ago"
    assert zh.ago(now - timedelta(days=2), now) == "2天前"
    assert en.ago(now + timedelta(hours=1), now) == "in 1 hour"
    assert en.ago(now - timedelta(seconds=5), now) == "just now"
    assert zh.ago(now - timedelta(seconds=5), now) == "刚刚"
    assert zh.ago(None) == "—"


def test_numbers_money_percent_sizes_and_dates_per_language() -> None:
    en, zh = translator("en"), translator("zh-CN")
    assert en.number(1234567) == "1,234,567" and zh.number(1234567) == "1,234,567"
    assert en.number(2.25, 1) == "2.2" or en.number(2.25, 1) == "2.3"
    assert en.percent(0.125) == "12.5%"
    assert en.money(3.5) == "$3.50" and zh.money(3.5) == "US$3.50"
    assert en.file_size(0) == "0 byte" and en.file_size(512) == "512 byte"
    assert en.file_size(1536) == "1.5 kB" and zh.file_size(1536) == "1.5 kB"
    assert en.file_size(5 * 1024**2) == "5 MB" and en.file_size(3 * 1024**3) == "3 GB"
    assert en.duration(5400) == "1.5 hr" and zh.duration(5400) == "1.5小时"
    assert en.duration(30) == "30 sec" and en.duration(None) == "—"
    moment = datetime(2026, 12, 1, 9, 5, 7, tzinfo=UTC)
    assert zh.time(moment).startswith("2026年12月")
    assert "Dec" in en.time(moment) and "2026" in en.time(moment)
    assert en.listing(["a", "b", "c"]) == "a, b, and c"
    assert zh.listing(["甲", "乙", "丙"]) == "甲、乙和丙"


# ---- errors from core carry a reason and params ------------------------------------------


def test_errors_name_their_message_and_its_values() -> None:
    locked = policy.sign_in_locked(130)
    assert isinstance(locked, RateLimited)
    assert (locked.code, locked.reason, locked.params) == (
        "rate_limited",
        "sign_in_locked",
        {"minutes": 3},
    )
    assert "3 min" in locked.message  # the API's English words
    assert translator("zh-CN")(f"error.{locked.reason}", **locked.params) == (
        "该邮箱登录失败次数过多。请在 3 分钟后重试。"
    )
    plain = ValidationError("Something core says.")
    assert (plain.reason, plain.params) == ("validation_error", {})
    assert NotFound().reason == "job_not_found"
    assert NotFound("No such file.").reason == "not_found"


@pytest.mark.parametrize(
    "error",
    [
        policy.rate_limited(30, 12),
        policy.rate_limited(30, None),
        policy.rate_limited(None, 12),
        policy.rate_limited(None, None),
        policy.quota_exceeded(50, 0, 3600),
        policy.last_admin_refused(),
        policy.email_taken(),
        policy.invalid_email(),
        policy.reset_link_invalid(),
        policy.session_required(),
    ],
    ids=lambda e: e.reason,
)
def test_each_policy_error_renders_in_chinese_with_its_params(error: StudioError) -> None:
    text = translator("zh-CN")(f"error.{error.reason}", **error.params)
    assert not re.search(r"[A-Za-z]{3}", text.replace("UTC", "")), text
    assert "{" not in text


def test_the_catalogue_files_hold_only_what_the_translator_reads(tmp_path: Path) -> None:
    bad = {"x": {"one": "a"}}  # a plural without 'other'
    with pytest.raises(ValueError):
        i18n._flatten(bad)
    assert i18n._flatten({"a": {"b": "c", "n": {"one": "1", "other": "2"}}}) == {
        "a.b": "c",
        "a.n": {"one": "1", "other": "2"},
    }


def test_the_languages_are_the_profiles_languages() -> None:
    assert LANGUAGES == policy.LANGUAGES
    assert all(isinstance(translator(lang), Translator) for lang in LANGUAGES)


@pytest.mark.parametrize(
    "error",
    [
        policy.rate_limited(30, 12),
        policy.rate_limited(30, None),
        policy.rate_limited(None, 12),
        policy.quota_exceeded(50, 3, 3600),
        policy.sign_in_locked(290),
        policy.last_admin_refused(),
        policy.last_admin_not_deleted(),
        policy.email_taken(),
        policy.wrong_current_password(),
        policy.new_passwords_differ(),
        policy.session_not_found(),
    ],
    ids=lambda e: e.reason,
)
def test_the_english_catalogue_says_what_core_says(error: StudioError) -> None:
    """core keeps its English words for the API; the UI's English is the same sentence."""
    assert translator("en")(f"error.{error.reason}", **error.params) == error.message
