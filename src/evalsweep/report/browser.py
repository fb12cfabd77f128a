"""The sample browser inside report.html: the controls, the table, the transcript panel, and the
rows as JSON in a <script type="application/json"> tag (evalsweep.report.samples.to_json escapes
them), with the page's script and style read from assets/ and put inline: no server, no CDN."""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from evalsweep.report.samples import SampleSet, to_json

ASSETS = Path(__file__).with_name("assets")
DATA_ID = "sb-data"


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def browser_css() -> str:
    return _asset("browser.css")


def browser_html(samples: SampleSet) -> str:
    """The browser's markup; the table is filled by the inline script from the JSON."""
    e = html.escape
    return (
        f"<div id='sb' class='sb'><p class='small' id='sb-note'>{e(samples.cap_note)}</p>"
        "<div class='sb-controls'>"
        "<label>variant <select id='sb-variant'></select></label>"
        "<label>score <select id='sb-score'></select></label>"
        "<label>group <select id='sb-field'></select></label>"
        "<label>value <select id='sb-value'></select></label>"
        "<label>text <input id='sb-text' type='search' placeholder='item, target, output, messages'></label>"
        "<span id='sb-count'></span></div>"
        "<table id='sb-table'><thead><tr><th>variant</th><th>item</th><th>seed</th><th>repeat</th><th>score</th>"
        "<th>target</th><th>output</th></tr></thead><tbody></tbody></table>"
        "<button id='sb-more' type='button' hidden>show more</button>"
        "<div id='sb-detail' hidden><div class='sb-bar'><strong id='sb-title'></strong>"
        "<label>beside it <select id='sb-other'></select></label>"
        "<button id='sb-close' type='button'>close</button></div>"
        "<div class='sb-panes'><div class='sb-pane' id='sb-left'></div><div class='sb-pane' id='sb-right'></div>"
        "</div></div></div>"
        f"<script type='application/json' id='{DATA_ID}'>{to_json(samples)}</script>"
        f"<script>{_asset('browser.js')}</script>"
    )
