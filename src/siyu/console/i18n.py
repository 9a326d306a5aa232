"""Console languages: the .po message catalogues, the locale a request is shown in, and one Jinja2
environment per locale with gettext installed.

The .po files are read at run time (compiled in memory once per locale), so there is no compile step
to forget; ``python -m siyu.console.i18n`` re-extracts the msgids and updates both catalogues.
"""

from __future__ import annotations

import sys
from functools import cache
from io import BytesIO
from typing import Final, Literal

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_python
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from siyu.console import HERE, LOCALE_DIR, TEMPLATES_DIR

Locale = Literal["zh_CN", "en"]
LOCALES: Final[tuple[Locale, ...]] = ("zh_CN", "en")
LOCALE_COOKIE: Final = "siyu_locale"
DOMAIN: Final = "messages"

# How msgids are found: templates through Jinja2's Babel extractor, Python through Babel's own
# (``_``, ``gettext`` and the no-op marker ``N_`` for strings translated later, at render time).
METHOD_MAP: Final = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS_MAP: Final = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
# Modules outside the console whose ``N_`` msgids the console shows (the board's health-check advice
# stays next to its rules; the console translates it when a page renders).
SHOWN_FROM: Final = (HERE.parent / "board" / "service.py",)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention, and Babel's default keyword
    """Mark a string for extraction without translating it here (it is translated when rendered)."""
    return message


def as_locale(value: str | None) -> Locale | None:
    for known in LOCALES:
        if value == known:
            return known
    return None


def po_path(locale: Locale) -> str:
    return str(LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po")


def read_catalogue(locale: Locale) -> Catalog:
    with open(po_path(locale), "rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


@cache
def translations(locale: Locale) -> Translations:
    """The locale's catalogue, compiled in memory once per process."""
    buffer = BytesIO()
    write_mo(buffer, read_catalogue(locale))
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def choose_locale(cookie: str | None, workspace_locale: str | None, default: str) -> Locale:
    """The operator's own choice (cookie) wins, then the workspace's language, then the site default."""
    return as_locale(cookie) or as_locale(workspace_locale) or as_locale(default) or "zh_CN"


def html_lang(locale: Locale) -> str:
    return "zh-CN" if locale == "zh_CN" else "en"


@cache
def environment(locale: Locale) -> Environment:
    """One environment per locale, so rendering never swaps translations under another thread."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["locale"] = locale
    env.globals["html_lang"] = html_lang(locale)
    return env


# --- catalogue maintenance (also used by the consistency test) ---------------------------------


def extract_messages() -> Catalog:
    """Every msgid the console uses, from its templates and its Python modules."""
    template = Catalog(domain=DOMAIN, project="siyu")
    for filename, lineno, message, comments, context in extract_from_dir(HERE, METHOD_MAP, OPTIONS_MAP):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for path in SHOWN_FROM:
        with open(path, "rb") as handle:
            for found in extract_python(handle, {"N_": None}, [], {}):
                text, notes = found[2], found[3]
                if isinstance(text, str):
                    template.add(text, None, [(f"../{path.parent.name}/{path.name}", found[0])], auto_comments=notes)
    return template


def _new_catalogue(locale: Locale) -> Catalog:
    return Catalog(
        locale=locale,
        domain=DOMAIN,
        project="siyu",
        version="console",
        copyright_holder="the siyu authors",
        msgid_bugs_address="the siyu issue tracker",
        last_translator="the siyu authors",
        language_team=f"siyu {locale}",
        header_comment=(
            f"# Console messages of siyu ({locale}). Msgids are English; fill in msgstr.\n"
            "# After changing msgids in templates or Python, run: python -m siyu.console.i18n"
        ),
        fuzzy=False,
    )


def update_catalogues() -> None:
    """Add new msgids to both catalogues and drop unused ones, keeping existing translations."""
    template = extract_messages()
    for locale in LOCALES:
        path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        catalogue = read_catalogue(locale) if path.exists() else _new_catalogue(locale)
        catalogue.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalogue.obsolete.clear()
        with open(path, "wb") as handle:
            # No line numbers: a msgid moving within a file should not rewrite the catalogues.
            write_po(handle, catalogue, width=120, include_lineno=False)
    translations.cache_clear()
    environment.cache_clear()


if __name__ == "__main__":
    update_catalogues()
    sys.stdout.write(f"updated {', '.join(po_path(locale) for locale in LOCALES)}\n")
