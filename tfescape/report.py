"""The report an analysis writes: report.md and report.html with a summary table, sections and figures.

A report is data (:class:`Report`: a title, a summary :class:`Table`, :class:`Section` s with text,
figures and tables) rendered twice: as Markdown (GitHub renders it, figures as relative links) and as a
self-contained-looking HTML page (inline CSS; figures referenced by relative path, so the results folder can
be moved or zipped as a whole). Both files are written atomically.

Example:
    >>> summary = Table(("quantity", "SGD", "Adam"), [("test accuracy (%)", 95.1, 93.2)])
    >>> report = Report("SGD vs Adam on digits", summary=summary,
    ...                 sections=[Section("Training", figures=[ReportFigure("training_curves.png", "Loss")])])
    >>> md_path, html_path = write_report(report, "results/digits")
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tfescape._atomic import atomic_write


@dataclass(frozen=True)
class Table:
    """A table: ``columns`` names and ``rows`` of cells (numbers are formatted, None shows as "-")."""

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence]):
        columns = tuple(str(c) for c in columns)
        rows = tuple(tuple(r) for r in rows)
        if not columns:
            raise ValueError("a Table needs at least one column name.")
        for i, row in enumerate(rows):
            if len(row) != len(columns):
                raise ValueError(
                    f"row {i} of the table has {len(row)} cells but there are {len(columns)} columns "
                    f"({', '.join(columns)}); give one cell per column (None for a blank)."
                )
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "rows", rows)


@dataclass(frozen=True)
class ReportFigure:
    """A figure file, by path relative to the report's folder, and its caption."""

    path: str
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """A report section: a heading, paragraphs of text, figures and tables, in that order."""

    title: str
    text: str = ""
    figures: tuple[ReportFigure, ...] = ()
    tables: tuple[Table, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "figures", tuple(self.figures))
        object.__setattr__(self, "tables", tuple(self.tables))


@dataclass(frozen=True)
class Report:
    """A whole report: title, an optional intro, opening sections (e.g. findings), the summary table,
    sections and run metadata, rendered in that order."""

    title: str
    summary: Table | None = None
    sections: tuple[Section, ...] = ()
    intro: str = ""
    metadata: Mapping[str, object] = field(default_factory=dict)
    opening: tuple[Section, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "sections", tuple(self.sections))
        object.__setattr__(self, "opening", tuple(self.opening))
        object.__setattr__(self, "metadata", dict(self.metadata))


def format_cell(value, *, digits: int = 4) -> str:
    """Format one table cell: floats with ``digits`` significant digits, None and NaN as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value != 0 and (abs(value) >= 10 ** (digits + 1) or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    try:  # numpy scalars
        return format_cell(value.item(), digits=digits)
    except AttributeError:
        return str(value)


def to_markdown(report: Report) -> str:
    """Render the report as GitHub-flavored Markdown."""
    out = [f"# {report.title}", ""]
    if report.intro:
        out += [report.intro.strip(), ""]
    for section in report.opening:
        out += _markdown_section(section)
    if report.summary is not None:
        out += ["## Summary", "", *_markdown_table(report.summary), ""]
    for section in report.sections:
        out += _markdown_section(section)
    if report.metadata:
        out += ["## Run", "", *_markdown_table(_metadata_table(report.metadata)), ""]
    return "\n".join(out).rstrip() + "\n"


def _markdown_section(section: Section) -> list[str]:
    out = [f"## {section.title}", ""]
    if section.text:
        out += [section.text.strip(), ""]
    for fig in section.figures:
        out += [f"![{_md_escape(fig.caption or fig.path)}]({fig.path})", ""]
        if fig.caption:
            out += [f"*{_md_escape(fig.caption)}*", ""]
    for table in section.tables:
        out += [*_markdown_table(table), ""]
    return out


def to_html(report: Report) -> str:
    """Render the report as one HTML page (inline CSS; figures by relative path)."""
    esc = html.escape
    body = [f"<h1>{esc(report.title)}</h1>"]
    if report.intro:
        body += [_html_paragraphs(report.intro)]
    for section in report.opening:
        body += _html_section(section)
    if report.summary is not None:
        body += ["<h2>Summary</h2>", _html_table(report.summary)]
    for section in report.sections:
        body += _html_section(section)
    if report.metadata:
        body += ["<h2>Run</h2>", _html_table(_metadata_table(report.metadata))]
    return _HTML_TEMPLATE.format(title=esc(report.title), body="\n".join(body))


def _html_section(section: Section) -> list[str]:
    esc = html.escape
    body = [f"<h2>{esc(section.title)}</h2>"]
    if section.text:
        body += [_html_paragraphs(section.text)]
    for fig in section.figures:
        caption = f"<figcaption>{esc(fig.caption)}</figcaption>" if fig.caption else ""
        body += [
            f'<figure><img src="{esc(fig.path, quote=True)}" alt="{esc(fig.caption or fig.path)}">'
            f"{caption}</figure>"
        ]
    for table in section.tables:
        body += [_html_table(table)]
    return body


def write_report(report: Report, out_dir: str | os.PathLike, *, name: str = "report") -> tuple[str, str]:
    """Write ``<out_dir>/<name>.md`` and ``<out_dir>/<name>.html`` atomically.

    Figures are referenced by their paths relative to ``out_dir``; a figure whose file does not exist
    raises, so a report never links to nothing.

    Args:
        report: what to write.
        out_dir: results folder (created if missing).
        name: file name without extension.

    Returns:
        (markdown path, html path).

    Raises:
        ValueError: a figure path is absolute or its file is missing under ``out_dir``.
    """
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    for section in (*report.opening, *report.sections):
        for fig in section.figures:
            if os.path.isabs(fig.path):
                raise ValueError(
                    f"figure path {fig.path!r} must be relative to the report folder {out_dir!r}."
                )
            if not os.path.exists(os.path.join(out_dir, fig.path)):
                raise ValueError(
                    f"figure {fig.path!r} of section {section.title!r} does not exist in {out_dir!r}; "
                    "save it (tfescape.plots.save_figure) before writing the report."
                )
    md_path = os.path.join(out_dir, f"{name}.md")
    html_path = os.path.join(out_dir, f"{name}.html")
    write_text_atomic(md_path, to_markdown(report))
    write_text_atomic(html_path, to_html(report))
    return md_path, html_path


def write_text_atomic(path: str | os.PathLike, text: str) -> str:
    """Write ``text`` (UTF-8) to ``path`` atomically (tfescape._atomic); returns the path."""
    with atomic_write(path, binary=False) as handle:
        handle.write(text)
    return os.fspath(path)


def _metadata_table(metadata: Mapping[str, object]) -> Table:
    return Table(("setting", "value"), [(str(k), _short(v)) for k, v in metadata.items()])


def _short(value) -> str:
    text = format_cell(value) if isinstance(value, int | float) else str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown_table(table: Table) -> list[str]:
    head = "| " + " | ".join(_md_escape(c) for c in table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    rows = ["| " + " | ".join(_md_escape(format_cell(c)) for c in row) + " |" for row in table.rows]
    return [head, rule, *rows]


def _html_table(table: Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(format_cell(c))}</td>" for c in row) + "</tr>" for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _html_paragraphs(text: str) -> str:
    paragraphs = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    return "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


_HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.5; }}
h1 {{ border-bottom: 2px solid #0173b2; padding-bottom: .3rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }}
th {{ background: #f2f2f2; }}
figure {{ margin: 1.5rem 0; }}
figure img {{ max-width: 100%; height: auto; }}
figcaption {{ font-style: italic; color: #555; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
