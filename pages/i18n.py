"""The studio's two languages, English (`en`) and Simplified Chinese (`zh-CN`), for the UI.

How a page converts its strings
-------------------------------
1. Import: ``from pages.i18n import t`` (and the formatters you need: ``fmt_time``,
   ``fmt_ago``, ``fmt_bytes``, ``fmt_number``, ``fmt_percent``, ``fmt_money``).
2. Replace each visible literal by ``t("page.name", **params)``; add the key, with the same
   ``{placeholders}``, to BOTH ``pages/locales/en.toml`` and ``pages/locales/zh-CN.toml``
   under the page's table (``[history]`` → keys ``history.*``). Keys are always string
   literals, so the catalogue test can find which keys are used.
3. A count takes a plural entry: ``jobs = { one = "{count} job", other = "{count} jobs" }``
   and ``t("admin.jobs", count=n)`` (Babel picks the form; Chinese has only ``other``).
4. Never glue translated pieces together (``t("a") + t("b")``, f-strings of t()): make one
   message with placeholders, since word order differs between languages. The catalogue
   test refuses ``+`` and f-strings around ``t(...)``.
5. Widgets keep their state across a language switch only if they have a ``key=``: give one
   to every input whose label is translated. Translate options with
   ``format_func=option_names({value: t("…"), …}, key=<the widget's key>)``: the option
   values (and the state) stay the same in both languages, and a switch keeps the choice.
6. Errors from ``core`` are ``widgets.show_error(exc)``: it renders ``error.<reason>`` with
   the error's params when the catalogue has that reason, else core's English message as is.
7. Add the page's screens to ``SCREENS`` in ``tests/ui/test_i18n_pages.py``: the AppTest
   renders each in zh-CN and fails on any English catalogue word left on screen.

Why a keyed catalogue and not gettext .po files: the keys are stable names, so error codes
from ``core`` map to ``error.<code>`` directly; the checks the tests make (every key in both
languages, the same placeholders, no unused keys) are plain dictionary comparisons; there is
no compile step (.mo) and no English text doubling as an id that breaks every translation
when the English wording changes. Babel supplies what a catalogue cannot: the plural rules,
dates, numbers, money, file sizes and relative times ("3 分钟前" / "3 minutes ago").

Each browser session has its own language (``st.session_state``); a `Translator` is an
immutable object per language shared by every session. Nothing here is process-wide state
that one user's choice could change for another (no ``gettext.install()``).
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.lists import format_list
from babel.numbers import format_currency, format_decimal, format_percent
from babel.units import format_unit

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES: tuple[str, ...] = ("en", "zh-CN")  # the catalogue files' names; the first is the default
DEFAULT_LANGUAGE = LANGUAGES[0]
# Each language's name in itself, shown in the switcher (the same in both languages).
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "zh-CN": "简体中文"}
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})
LANG_KEY = "i18n_language"  # st.session_state: this session's language
PICK_KEY = "i18n_pick"  # st.session_state: the sidebar switcher's widget
CHOSEN_KEY = "i18n_chosen"  # st.session_state: True once the visitor picked in the switcher
CHOICES_KEY = "i18n_choice_keys"  # st.session_state: keys of widgets with translated options


# ---- the catalogue (no Streamlit: unit-testable) ---------------------------------------------


Message = str | Mapping[str, str]  # a text, or plural forms {"one": …, "other": …}


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Message]:
    out: dict[str, Message] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, dict) and value and set(value) <= PLURAL_FORMS:
            if "other" not in value or not all(isinstance(v, str) for v in value.values()):
                raise ValueError(f"plural message {key} needs string forms including 'other'")
            out[key] = dict(value)
        elif isinstance(value, dict):
            out.update(_flatten(value, f"{key}."))
        else:
            raise ValueError(f"catalogue entry {key} is neither text nor a table")
    return out


@cache
def catalogue(language: str) -> Mapping[str, Message]:
    """Every message of `language`, by dotted key (``account.title``)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    with (LOCALES_DIR / f"{language}.toml").open("rb") as file:
        return _flatten(tomllib.load(file))


def placeholders(message: Message) -> set[str]:
    """The {names} a message uses (every plural form together)."""
    texts = [message] if isinstance(message, str) else list(message.values())
    return {
        name.split(".")[0].split("[")[0]
        for text in texts
        for _lit, name, _spec, _conv in string.Formatter().parse(text)
        if name
    }


def negotiate(browser_locale: str | None) -> str:
    """The studio language for a browser's `navigator.language` ("zh-CN", "zh", "en-GB"…):
    any Chinese → zh-CN (the only Chinese there is), anything else → English."""
    tag = (browser_locale or "").strip().replace("_", "-").lower()
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-CN"
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Translator:
    """Messages and formats of one language. Immutable; one per language, shared."""

    language: str
    messages: Mapping[str, Message] = field(repr=False)
    locale: Locale = field(repr=False)

    def __call__(self, key: str, /, **params: Any) -> str:
        """The message `key` with `params` filled in. A plural message picks its form by
        the `count` param. An unknown key shows as the key itself (the catalogue test makes
        sure none is)."""
        message = self.messages.get(key)
        if message is None:
            return key
        if not isinstance(message, str):
            count = params.get("count", 0)
            form = self.locale.plural_form(abs(count)) if isinstance(count, int | float) else ""
            message = message.get(form) or message["other"]
        # Whole numbers in the language's digits grouping ("1,200"); other values as given.
        params = {
            name: self.number(value)
            if isinstance(value, int) and not isinstance(value, bool)
            else value
            for name, value in params.items()
        }
        return message.format(**params) if params else message

    def has(self, key: str) -> bool:
        return key in self.messages

    # -- Babel formats -------------------------------------------------------------------

    def number(self, value: float, digits: int | None = None) -> str:
        if digits is None:
            return format_decimal(value, locale=self.locale)
        return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                              locale=self.locale)  # fmt: skip

    def percent(self, ratio: float) -> str:
        return format_percent(ratio, format="#,##0.0%", locale=self.locale)

    def money(self, amount: float, currency: str = "USD") -> str:
        return format_currency(amount, currency, locale=self.locale)

    def file_size(self, size: int) -> str:
        """Bytes in B/KB/MB/GB (powers of 1024, as the studio always counted them)."""
        value, unit = float(size), "byte"
        for bigger in ("kilobyte", "megabyte", "gigabyte"):
            if abs(value) < 1024:
                break
            value, unit = value / 1024, bigger
        shown = round(value) if unit == "byte" else round(value, 1)
        return format_unit(shown, f"digital-{unit}", length="short", locale=self.locale)

    def listing(self, items: Sequence[str], style: str = "standard") -> str:
        """ "a, b, and c" / "a、b和c": the language's own way of listing ("or": "a, b, or c")."""
        return format_list(list(items), style=style, locale=self.locale) if items else ""

    def time(self, value: datetime | None) -> str:
        """A moment in the server's time zone, in the language's medium format."""
        if value is None:
            return "—"
        return format_datetime(value.astimezone(), "medium", locale=self.locale)

    def day(self, value: date) -> str:
        return format_date(value, "medium", locale=self.locale)

    def ago(self, value: datetime | None, now: datetime | None = None) -> str:
        """ "3 minutes ago" / "3分钟前" (or "in 3 minutes" for a future moment)."""
        if value is None:
            return "—"
        delta = value - (now or datetime.now(UTC))
        if abs(delta) < timedelta(seconds=45):
            return self("common.just_now")
        return format_timedelta(delta, add_direction=True, threshold=1.0, locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        """A length of time: "1.5 hours" / "1.5小时" (seconds below a minute)."""
        if seconds is None:
            return "—"
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds >= size:
                amount = round(seconds / size, 1)
                amount = int(amount) if amount == int(amount) else amount
                return format_unit(amount, f"duration-{unit}", length="short", locale=self.locale)
        return format_unit(round(seconds, 1), "duration-second", length="short",
                           locale=self.locale)  # fmt: skip


@cache
def translator(language: str) -> Translator:
    """The shared, immutable Translator of `language`."""
    return Translator(language, catalogue(language), Locale.parse(language, sep="-"))


# ---- this session's language (Streamlit) -----------------------------------------------------


def language() -> str:
    """This session's language: chosen in the switcher or kept in the signed-in user's
    profile (set_language), else the browser's (`st.context.locale`), else English."""
    import streamlit as st

    chosen = st.session_state.get(LANG_KEY)
    if chosen in LANGUAGES:
        return str(chosen)
    try:
        browser = st.context.locale
    except Exception:  # no browser context (bare mode)
        browser = None
    lang = negotiate(browser)
    st.session_state[LANG_KEY] = lang
    return lang


def set_language(lang: str) -> None:
    """Make `lang` this session's language (the caller stores it in the profile)."""
    import streamlit as st

    if lang in LANGUAGES:
        st.session_state[LANG_KEY] = lang


def chosen() -> bool:
    """Whether this session's language was picked in the switcher (not only guessed)."""
    import streamlit as st

    return bool(st.session_state.get(CHOSEN_KEY))


def language_switcher(on_choose: Callable[[str], None] | None = None) -> None:
    """The language picker (put it in the sidebar). Choosing reruns the page in the new
    language; widgets with a key keep what was typed. `on_choose(language)` runs first (the
    router stores a signed-in user's choice in the profile there)."""
    import streamlit as st

    lang = language()
    if st.session_state.get(PICK_KEY) != lang:
        st.session_state[PICK_KEY] = lang

    def choose() -> None:
        picked = st.session_state.get(PICK_KEY)
        if picked not in LANGUAGES:
            return
        _keep_choices()
        st.session_state[LANG_KEY] = picked
        st.session_state[CHOSEN_KEY] = True
        if on_choose is not None:
            on_choose(str(picked))

    st.selectbox(
        t("common.language"),
        LANGUAGES,
        format_func=lambda code: LANGUAGE_NAMES[code],
        key=PICK_KEY,
        on_change=choose,
    )


def option_names(names: Mapping[Any, str], *, key: str) -> Callable[[Any], str]:
    """The format_func of the widget `key` whose options show `names` (already in this
    session's language; an option without a name shows as itself). Bound now: Streamlit may
    call it outside this run. A language switch re-owns these widgets' values (see
    `_keep_choices`), so the browser shows the chosen option under its new label."""
    import streamlit as st

    keys: set[str] = st.session_state.setdefault(CHOICES_KEY, set())
    keys.add(key)
    return lambda value: names.get(value, str(value))


def _keep_choices() -> None:
    """In the switcher's callback, before the rerun in the new language: the widgets with
    translated options get their current values set again, so the rerun sends each one's new
    label to the browser. Otherwise the browser keeps showing (and later sends back) the old
    language's label, which the new options do not contain. A value changed inside a form but
    not yet submitted goes back to the submitted one."""
    import streamlit as st

    for key in list(st.session_state.get(CHOICES_KEY, ())):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def kept_state() -> dict[str, Any]:
    """The session-state entries of the language, for code that clears the session state
    (signing out) to put back: the tab keeps speaking the same language."""
    import streamlit as st

    return {k: st.session_state[k] for k in (LANG_KEY, CHOSEN_KEY) if k in st.session_state}


def current() -> Translator:
    """This session's Translator."""
    return translator(language())


def t(key: str, /, **params: Any) -> str:
    """This session's text for `key` (see the guide at the top of this module)."""
    return current()(key, **params)


def fmt_time(value: datetime | None) -> str:
    return current().time(value)


def fmt_ago(value: datetime | None) -> str:
    return current().ago(value)


def fmt_bytes(size: int) -> str:
    return current().file_size(size)


def fmt_number(value: float, digits: int | None = None) -> str:
    return current().number(value, digits)


def fmt_percent(ratio: float) -> str:
    return current().percent(ratio)


def fmt_money(amount: float, currency: str = "USD") -> str:
    return current().money(amount, currency)


def fmt_duration(seconds: float | None) -> str:
    return current().duration(seconds)


def fmt_day(value: date) -> str:
    return current().day(value)


def fmt_list(items: Sequence[str], style: str = "standard") -> str:
    return current().listing(items, style)
