"""The report's blocks (headings, paragraphs, bullets, tables, images), the formatting of their
numbers, and their rendering to Markdown and to one self-contained HTML file (images as base64 data
URIs). Both come from the same blocks, so they say the same thing; what the blocks say is
evalsweep.report.document's. In HTML every heading has an id, the contents list links to them, and
the sample browser (evalsweep.report.browser) is live; Markdown has the list and says where it is."""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import pandas as pd

from evalsweep.report.browser import browser_css, browser_html
from evalsweep.report.samples import SampleSet

OUTPUT_CHARS = 80


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str
    strong: bool = False  # a warning (the simulator line): bold, and red in HTML
    style: str = ""  # "verdict": bold; "small": a note on what it follows (HTML: smaller type)


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: Path
    alt: str


@dataclass
class Contents:
    headings: list[Heading]  # the very blocks of the document, so HTML can link to their ids


@dataclass
class Browser:
    samples: SampleSet


Block = Union[Heading, Para, Bullets, Table, Image, Contents, Browser]


# --- formatting ----------------------------------------------------------------------------------


def missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def num(v: Any, digits: int = 3) -> str:
    return "n/a" if missing(v) else f"{float(v):.{digits}f}"


def pval(v: Any) -> str:
    if missing(v):
        return "n/a"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def integer(v: Any) -> str:
    return "n/a" if missing(v) else f"{int(round(float(v)))}"


def ci(lo: Any, hi: Any) -> str:
    return "n/a" if missing(lo) or missing(hi) else f"[{lo:.3f}, {hi:.3f}]"


def clip(text: Any, n: int = OUTPUT_CHARS) -> str:
    s = "" if missing(text) else " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 1] + "…"



# --- renderers ---------------------------------------------------------------------------------


def _md_cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            out.append(f"**{b.text}**" if b.strong or b.style == "verdict" else b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {_md_cell(i)}" for i in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _ in b.headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Image):
            out.append(f"![{b.alt}]({b.path.name})")
        elif isinstance(b, Contents):
            top = min((h.level for h in b.headings), default=2)
            out.append("Contents:\n\n" + "\n".join(f"{'  ' * (h.level - top)}- {_md_cell(h.text)}"
                                                   for h in b.headings))
        elif isinstance(b, Browser):
            out.append(f"The sample browser is in report.html: {_md_cell(b.samples.cap_note)}")
    return "\n\n".join(out) + "\n"


CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222;font-size:14px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3} img{max-width:100%;display:block;margin:1em 0}
.strong{font-weight:bold;color:#a00}
.small{font-size:12px;color:#555} .verdict{font-weight:bold}
h1{font-size:24px;margin:.2em 0} h2{font-size:19px;margin:.8em 0 .3em} h3{font-size:16px}
p{margin:.35em 0} ul{margin:.3em 0} li{margin:.1em 0}
nav.contents ul{display:flex;flex-wrap:wrap;gap:.2em 1.2em;list-style:none;padding:0;margin:.4em 0;font-size:13px}
nav.contents li.sub{font-size:12px}
"""


def _anchors(blocks: list[Block]) -> dict[int, str]:
    """id(heading) -> its HTML id: the text's slug, numbered when it repeats."""
    out: dict[int, str] = {}
    used: set[str] = set()
    for b in blocks:
        if isinstance(b, Heading):
            base = re.sub(r"[^a-z0-9]+", "-", b.text.lower()).strip("-") or "section"
            name, n = base, 1
            while name in used:
                n += 1
                name = f"{base}-{n}"
            used.add(name)
            out[id(b)] = name
    return out


def _para_html(b: Para) -> str:
    cls = " ".join(c for c in ("strong" if b.strong else "", b.style) if c)
    return f"<p class='{cls}'>{html.escape(b.text)}</p>" if cls else f"<p>{html.escape(b.text)}</p>"


def _contents_html(b: Contents, anchors: dict[int, str]) -> str:
    top = min((h.level for h in b.headings), default=2)
    items = "".join(f"<li{' class=sub' if h.level > top else ''}><a href='#{anchors[id(h)]}'>"
                    f"{html.escape(h.text)}</a></li>" for h in b.headings)
    return f"<nav class='contents'><ul><li><strong>Contents:</strong></li>{items}</ul></nav>"


def to_html(blocks: list[Block], title: str = "evalsweep report") -> str:
    e = html.escape
    css = CSS + (browser_css() if any(isinstance(b, Browser) for b in blocks) else "")
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
           f"<style>{css}</style></head><body>"]
    anchors = _anchors(blocks)
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level} id='{anchors[id(b)]}'>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(_para_html(b))
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.path.read_bytes()).decode("ascii")
            out.append(f"<figure><img alt='{e(b.alt)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{e(b.alt)}</figcaption></figure>")
        elif isinstance(b, Contents):
            out.append(_contents_html(b, anchors))
        elif isinstance(b, Browser):
            out.append(browser_html(b.samples))
    out.append("</body></html>")
    return "\n".join(out)
