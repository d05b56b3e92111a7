"""tfescape.report: Markdown and HTML rendering, atomic writing, checks on tables and figures."""

import html.parser
import os

import pytest

from tfescape.report import (
    Report,
    ReportFigure,
    Section,
    Table,
    format_cell,
    to_html,
    to_markdown,
    write_report,
)


def _report(fig_path="figures/a.png"):
    summary = Table(
        ("quantity", "SGD", "Adam"), [("test accuracy (%)", 95.123456, 93.2), ("alpha", None, 1.5)]
    )
    return Report(
        "SGD vs Adam <digits>",
        summary=summary,
        intro="Intro paragraph.\n\nSecond one.",
        sections=[
            Section(
                "Noise",
                "Text with a | pipe.",
                figures=[ReportFigure(fig_path, "Tail index")],
                tables=[Table(("a", "b"), [(1, 2.5)])],
            )
        ],
        metadata={"epochs": 3, "lr": 0.1},
    )


def test_format_cell():
    assert format_cell(None) == "-"
    assert format_cell(float("nan")) == "-"
    assert format_cell(3) == "3"
    assert format_cell(95.123456) == "95.12"
    assert format_cell(1e-8) == "1.000e-08"
    assert format_cell(float("inf")) == "inf"
    assert format_cell(True) == "yes"


def test_markdown_has_the_summary_table_and_figures():
    md = to_markdown(_report())
    lines = md.splitlines()
    assert lines[0] == "# SGD vs Adam <digits>"
    start = lines.index("| quantity | SGD | Adam |")
    assert lines[start + 1] == "| --- | --- | --- |"
    assert lines[start + 2] == "| test accuracy (%) | 95.12 | 93.2 |"
    assert lines[start + 3] == "| alpha | - | 1.5 |"
    assert "![Tail index](figures/a.png)" in lines
    assert "Text with a | pipe." in md  # prose is left alone; only table cells are escaped


class _TagChecker(html.parser.HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_html_is_balanced_and_escaped():
    page = to_html(_report())
    checker = _TagChecker()
    checker.feed(page)
    assert checker.errors == [] and checker.stack == []
    assert checker.images == ["figures/a.png"]
    assert "SGD vs Adam &lt;digits&gt;" in page
    assert "<td>95.12</td>" in page


def test_write_report_is_atomic_and_checks_figures(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        write_report(_report(), tmp_path)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"png")
    md, page = write_report(_report(), tmp_path)
    assert os.path.basename(md) == "report.md" and os.path.basename(page) == "report.html"
    assert sorted(os.listdir(tmp_path)) == ["figures", "report.html", "report.md"]
    with pytest.raises(ValueError, match="relative"):
        write_report(_report(str(tmp_path / "figures" / "a.png")), tmp_path)


def test_table_rows_must_match_columns():
    with pytest.raises(ValueError, match="one cell per column"):
        Table(("a", "b"), [(1,)])
