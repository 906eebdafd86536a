"""A tiny document model (sections of text, tables, images) rendered to Markdown and to one
self-contained HTML page (images embedded as base64 PNG, inline CSS, no scripts, no requests).
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field


@dataclass
class Text:
    text: str  # Markdown-light: **bold** and `code` only


@dataclass
class Table:
    id: str  # stable id: HTML `id`, used by tests and links
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    row_classes: list[str] = field(default_factory=list)  # e.g. status group per row
    css: str = ""  # table class, e.g. "nowrap" (cells on one line, last column wraps)


@dataclass
class Image:
    file: str  # relative path next to the report, e.g. plots/accuracy_latency.png
    png: bytes
    alt: str


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    level: int = 2


# -- Markdown --------------------------------------------------------------------------------
def _md_cell(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_md(t: Table) -> str:
    lines = []
    if t.caption:
        lines += [f"*{t.caption}*", ""]
    lines.append("| " + " | ".join(map(_md_cell, t.columns)) + " |")
    lines.append("|" + "|".join(" --- " for _ in t.columns) + "|")
    lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in t.rows]
    return "\n".join(lines)


def render_md(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += ["#" * s.level + " " + s.title, ""]
        for b in s.blocks:
            if isinstance(b, Text):
                out.append(b.text)
            elif isinstance(b, Table):
                out.append(table_md(b))
            elif isinstance(b, Image):
                out.append(f"![{b.alt}]({b.file})")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


# -- HTML ------------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#1d1f21}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:12.5px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2}caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}
tr.passed td:first-child{border-left:4px solid #2e7d32}
tr.exported-failed td:first-child{border-left:4px solid #ef6c00}
tr.failed td:first-child{border-left:4px solid #c62828}
tr.not-applicable td:first-child{border-left:4px solid #9e9e9e}
tr.not-applicable td{color:#757575}
img{max-width:100%;height:auto;display:block;margin:.5em 0 1.2em}
code{background:#f4f4f4;padding:0 3px;border-radius:3px}
.scroll{overflow-x:auto}
table.nowrap td{white-space:nowrap}table.nowrap td:last-child{white-space:normal;min-width:18em}
"""


def _inline(text: str) -> str:
    """Escape, then turn **bold** and `code` into tags."""
    import re

    s = html.escape(text)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    s = re.sub(r"`(.+?)`", r"<code>\1</code>", s)
    s = re.sub(r"(?<![*\w])\*(?![*\s])(.+?)(?<![*\s])\*(?![*\w])", r"<em>\1</em>", s)
    return s


def text_html(text: str) -> str:
    """Paragraphs separated by blank lines; a paragraph of "- " lines becomes a list."""
    out = []
    for para in text.split("\n\n"):
        lines = [ln for ln in para.splitlines() if ln.strip()]
        if lines and all(ln.startswith("- ") for ln in lines):
            out.append("<ul>" + "".join(f"<li>{_inline(ln[2:])}</li>" for ln in lines) + "</ul>")
        elif lines:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "".join(out)


def table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    for i, r in enumerate(t.rows):
        cls = f' class="{html.escape(t.row_classes[i])}"' if i < len(t.row_classes) else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_inline(str(v))}</td>" for v in r) + "</tr>")
    cap = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    cls = f' class="{html.escape(t.css)}"' if t.css else ""
    return (f'<div class="scroll"><table id="{html.escape(t.id)}"{cls}>{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def render_html(title: str, sections: list[Section]) -> str:
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        parts.append(f"<h{s.level}>{html.escape(s.title)}</h{s.level}>")
        for b in s.blocks:
            if isinstance(b, Text):
                parts.append(text_html(b.text))
            elif isinstance(b, Table):
                parts.append(table_html(b))
            elif isinstance(b, Image):
                data = base64.b64encode(b.png).decode("ascii")
                parts.append(f'<img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}">')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><link rel=\"icon\" href=\"data:,\">"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
