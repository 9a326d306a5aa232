"""The message catalogues match the code: every msgid in templates and Python is translated to
Simplified Chinese, and the English catalogue has exactly the same msgids."""

from __future__ import annotations

import re

import pytest
from babel.messages.catalog import Catalog

from siyu.console import i18n

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _ids(catalogue: Catalog) -> set[str]:
    return {message.id for message in catalogue if message.id and isinstance(message.id, str)}


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    return _ids(i18n.extract_messages())


def test_extraction_finds_the_console_messages(extracted: set[str]) -> None:
    # Guards the extractor set-up itself: one msgid from a template, one marked N_ in Python.
    assert {"Sign in to siyu", "Members and roles"} <= extracted


def test_every_msgid_has_a_chinese_translation(extracted: set[str]) -> None:
    zh = i18n.read_catalogue("zh_CN")
    missing = sorted(m for m in extracted if not (zh.get(m) and zh.get(m).string))  # type: ignore[union-attr]
    assert not missing, f"untranslated in zh_CN (run python -m siyu.console.i18n, then translate): {missing}"
    fuzzy = sorted(str(m.id) for m in zh if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy entries are ignored at run time: {fuzzy}"


def test_catalogues_have_exactly_the_msgids_in_use(extracted: set[str]) -> None:
    for locale in i18n.LOCALES:
        ids = _ids(i18n.read_catalogue(locale))
        assert ids - extracted == set(), f"{locale} has msgids no longer used"
        assert extracted - ids == set(), f"{locale} lacks msgids"


def test_translations_keep_their_placeholders() -> None:
    for message in i18n.read_catalogue("zh_CN"):
        if message.id and message.string:
            assert set(_PLACEHOLDER.findall(str(message.id))) == set(_PLACEHOLDER.findall(str(message.string))), (
                message.id
            )


def test_runtime_translations_are_loaded_from_the_po_files() -> None:
    assert i18n.translations("zh_CN").gettext("Sign out") == "退出登录"
    assert i18n.translations("en").gettext("Sign out") == "Sign out"


def test_locale_choice() -> None:
    assert i18n.choose_locale("en", "zh_CN", "zh_CN") == "en"
    assert i18n.choose_locale(None, "en", "zh_CN") == "en"
    assert i18n.choose_locale("fr", None, "zh_CN") == "zh_CN"
    assert i18n.choose_locale(None, None, "en") == "en"
