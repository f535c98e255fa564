"""At phone width a data table scrolls inside its own box (console.css), and a box that
scrolls must be reachable by keyboard (axe's scrollable-region-focusable, serious). Whether a
table overflows depends on its rows and the machine's fonts, so the rule is checked on the
templates, not left to the rows one test happens to seed: every table is focusable itself,
sits directly in a focusable `.scroll` region (which then scrolls instead of the table), or
is laid out as cards that wrap and never scroll."""

from __future__ import annotations

import re
from pathlib import Path

import service.console

TEMPLATES = Path(service.console.__file__).parent / "templates"
CSS = Path(service.console.__file__).parent / "static" / "console.css"
TABLE = re.compile(r"<table\b[^>]*>")
SCROLL_REGION = re.compile(
    r'<div class="scroll" role="region" aria-label="[^"]+" tabindex="0">\s*$'
)
WRAPPING_LAYOUTS = ("cards", "awaiting")


def _unreachable_tables() -> list[str]:
    bad: list[str] = []
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        for match in TABLE.finditer(text):
            tag = match.group(0)
            if 'tabindex="0"' in tag:
                continue
            if any(f'class="{layout}"' in tag for layout in WRAPPING_LAYOUTS):
                continue
            if SCROLL_REGION.search(text[: match.start()]):
                continue
            line = text.count("\n", 0, match.start()) + 1
            bad.append(f"{template.name}:{line}: {tag}")
    return bad


def test_every_table_that_can_scroll_is_reachable_by_keyboard() -> None:
    assert _unreachable_tables() == []


def test_the_region_scrolls_not_the_table_inside_it_and_cards_never_scroll() -> None:
    css = CSS.read_text(encoding="utf-8")
    assert ".scroll > table { overflow-x: visible; }" in css
    for layout in WRAPPING_LAYOUTS:
        assert f"table.{layout} {{ overflow-x: visible; }}" in css
