"""The web console: server-rendered pages (Jinja2 + HTMX + ECharts), zh-CN by default, English switch."""

from pathlib import Path

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
LOCALE_DIR = HERE / "locale"
