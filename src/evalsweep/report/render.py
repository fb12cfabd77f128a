"""The report's blocks (headings, paragraphs, bullets, tables, images), the formatting of their
numbers, and their rendering to Markdown and to one self-contained HTML file (images as base64 data
URIs). Both come from the same blocks, so they say the same thing; what the blocks say is
evalsweep.report.document's."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import pandas as pd

OUTPUT_CHARS = 80


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str
    strong: bool = False


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


Block = Union[Heading, Para, Bullets, Table, Image]


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
            out.append(f"**{b.text}**" if b.strong else b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {_md_cell(i)}" for i in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _ in b.headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Image):
            out.append(f"![{b.alt}]({b.path.name})")
    return "\n\n".join(out) + "\n"


CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3} img{max-width:100%;display:block;margin:1em 0}
.strong{font-weight:bold;color:#a00}
"""


def to_html(blocks: list[Block], title: str = "evalsweep report") -> str:
    e = html.escape
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
           f"<style>{CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p class='strong'>{e(b.text)}</p>" if b.strong else f"<p>{e(b.text)}</p>")
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
    out.append("</body></html>")
    return "\n".join(out)
