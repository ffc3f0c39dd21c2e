"""The annual activity report as an A4 PDF, drawn with fpdf2: the same rows and numbers
as the page (`server.web.staff.annual`), and its charts drawn with plain lines and
rectangles (no charting library: a dozen bars and a line are a few dozen strokes).

The text is set in DejaVu Sans when the system has it (Debian's fonts-dejavu-core); else
in the PDF's core Helvetica, which knows Latin-1 only, so the few other characters the
report uses are written with their nearest Latin-1 ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from fpdf import FPDF, FontFace

from server.domain.annual import REVENUE_KINDS, AnnualReport
from server.web.staff.annual import (
    by_whom_text,
    chart_data,
    community_table,
    events_rows,
    occupancy_table,
    revenue_table,
    summary_rows,
)

FONT_FOLDERS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/TTF"))
INK = (33, 37, 41)
MUTED = (108, 117, 125)
ACCENT = (31, 78, 121)  # the staff pages' blue
RULE = (206, 212, 218)
ZEBRA = (241, 245, 249)
BEFORE = (150, 150, 150)
UP, DOWN = (46, 125, 50), (179, 38, 30)
BARS = [(158, 202, 225), (33, 113, 181)]
REVENUE_COLOURS = {
    "payg": (158, 202, 225),
    "pack": (66, 146, 198),
    "monthly": (8, 81, 156),
    "free": (199, 233, 192),
    "guests": (253, 174, 107),
}
LATIN1 = str.maketrans(
    {"\u202f": " ", "\u00a0": " ", "—": "-", "–": "-", "−": "-", "’": "'", "·": "."}
)
MARGIN = 18.0


class _Document(FPDF):
    def __init__(self, title: str, made: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report_title, self.made = title, made
        regular, bold = (folder / "DejaVuSans.ttf" for folder in FONT_FOLDERS), None
        found = next((path for path in regular if path.exists()), None)
        if found is not None and (found.parent / "DejaVuSans-Bold.ttf").exists():
            bold = found.parent / "DejaVuSans-Bold.ttf"
        self.unicode = found is not None and bold is not None
        if self.unicode:
            self.add_font("doc", "", str(found))
            self.add_font("doc", "B", str(bold))
            self.family = "doc"
        else:
            self.family = "helvetica"
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN)
        self.set_title(self.text_of(title))
        self.set_creator("Présence")
        self.alias_nb_pages()

    def text_of(self, text: str) -> str:
        if self.unicode:
            return text
        return text.translate(LATIN1).encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False, colour: tuple[int, int, int] = INK) -> None:
        self.set_font(self.family, "B" if bold else "", size)
        self.set_text_color(*colour)

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.font(8, colour=MUTED)
        self.set_y(8)
        self.cell(0, 5, self.text_of(self.report_title), align="L")
        self.set_draw_color(*RULE)
        self.line(MARGIN, 14, self.w - MARGIN, 14)
        self.set_y(MARGIN)

    def footer(self) -> None:
        self.set_y(-12)
        self.font(8, colour=MUTED)
        self.cell(0, 5, self.text_of(self.made), align="L")
        self.set_x(MARGIN)
        page = _("page %(num)s sur %(total)s", num=self.page_no(), total="{nb}")
        self.cell(0, 5, self.text_of(page), align="R")

    def heading(self, text: str, room: float = 60) -> None:
        """A section's title, on a new page when less than `room` mm are left."""
        if self.get_y() + room > self.h - MARGIN:
            self.add_page()
        self.ln(3)
        self.font(14, bold=True, colour=ACCENT)
        self.cell(0, 8, self.text_of(text), new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*ACCENT)
        self.set_line_width(0.5)
        left = MARGIN + self.c_margin
        self.line(left, self.get_y(), left + 30, self.get_y())
        self.set_line_width(0.2)
        self.ln(3)

    def paragraph(self, text: str, size: float = 9.5, colour: tuple[int, int, int] = INK) -> None:
        self.font(size, colour=colour)
        self.multi_cell(0, size * 0.5, self.text_of(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1.5)


def _scale(value: float) -> tuple[float, int]:
    """A round step and how many of them reach `value`: the chart's scale, at most five
    gridlines above zero (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0, 1
    power = 10 ** max(len(str(int(value))) - 2, 0)
    while True:
        for factor in (1, 2, 2.5, 5):
            step = factor * power
            if value / step <= 5:
                return float(step), max(1, -(-int(value * 1000) // int(step * 1000)))
        power *= 10


@dataclass
class Series:
    label: str
    values: Sequence[float | None]
    colour: tuple[int, int, int]


def _chart(
    pdf: _Document,
    height: float,
    labels: Sequence[str],
    bars: Sequence[Series],
    before: Series | None,
    shown: Callable[[float], str],
    stacked: bool = False,
) -> None:
    """Bars for each month (side by side, or stacked), the year before as a dashed line."""
    if pdf.get_y() + height + 18 > pdf.h - MARGIN:
        pdf.add_page()
    x0, top = MARGIN, pdf.get_y()
    width = pdf.w - 2 * MARGIN
    # The legend, one line above the plot.
    pdf.font(8)
    x = x0
    for series in [*bars, *([before] if before else [])]:
        label = pdf.text_of(series.label)
        if x + 12 + pdf.get_string_width(label) > x0 + width:  # the legend's next line
            x, top = x0, top + 5
        pdf.set_fill_color(*series.colour)
        if series is before:
            pdf.set_draw_color(*series.colour)
            pdf.set_line_width(0.6)
            pdf.set_dash_pattern(1.5, 1)
            pdf.line(x, top + 2, x + 5, top + 2)
            pdf.set_dash_pattern()
            pdf.set_line_width(0.2)
        else:
            pdf.rect(x, top + 0.5, 4, 3, style="F")
        pdf.set_xy(x + 6, top)
        pdf.cell(pdf.get_string_width(label) + 1, 4, label)
        x += 6 + pdf.get_string_width(label) + 6
    plot_top, axis = top + 8, 16.0  # room for the scale's numbers on the left
    plot_h, plot_x, plot_w = height - 16, x0 + axis, width - axis
    bottom = plot_top + plot_h
    totals = [
        sum(v or 0 for v in column) if stacked else max((v or 0 for v in column), default=0)
        for column in zip(*(series.values for series in bars), strict=True)
    ]
    highest = max([*totals, *((v or 0) for v in (before.values if before else []))], default=0)
    step, steps = _scale(highest)
    scale = step * steps
    pdf.font(7, colour=MUTED)
    pdf.set_draw_color(*RULE)
    for n in range(steps + 1):
        y = bottom - plot_h * n / steps
        pdf.line(plot_x, y, plot_x + plot_w, y)
        pdf.set_xy(x0, y - 2)
        pdf.cell(axis - 2, 4, pdf.text_of(shown(step * n)), align="R")
    slot = plot_w / len(labels)
    group = slot * 0.7
    for index, label in enumerate(labels):
        left = plot_x + index * slot + (slot - group) / 2
        if stacked:
            base = bottom
            for series in bars:
                value = series.values[index] or 0
                tall = plot_h * value / scale
                if tall > 0:
                    pdf.set_fill_color(*series.colour)
                    pdf.rect(left, base - tall, group, tall, style="F")
                base -= tall
        else:
            each = group / len(bars)
            for n, series in enumerate(bars):
                tall = plot_h * (series.values[index] or 0) / scale
                if tall > 0:
                    pdf.set_fill_color(*series.colour)
                    pdf.rect(left + n * each, bottom - tall, each, tall, style="F")
        pdf.font(7, colour=MUTED)
        pdf.set_xy(plot_x + index * slot, bottom + 1)
        pdf.cell(slot, 4, pdf.text_of(label), align="C")
    if before is not None:
        points = [
            (plot_x + (index + 0.5) * slot, bottom - plot_h * value / scale)
            for index, value in enumerate(before.values)
            if value is not None
        ]
        pdf.set_draw_color(*before.colour)
        pdf.set_fill_color(*before.colour)
        pdf.set_line_width(0.5)
        pdf.set_dash_pattern(1.5, 1)
        for start, end in zip(points, points[1:], strict=False):
            pdf.line(*start, *end)
        pdf.set_dash_pattern()
        for px, py in points:
            pdf.ellipse(px - 0.7, py - 0.7, 1.4, 1.4, style="F")
        pdf.set_line_width(0.2)
    pdf.set_draw_color(*MUTED)
    pdf.line(plot_x, bottom, plot_x + plot_w, bottom)
    pdf.set_y(bottom + 8)


def _table(
    pdf: _Document,
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    total: bool = True,
    size: float = 8.5,
    align: Sequence[str] | None = None,
) -> None:
    """A table with its header repeated on each page, numbers on the right, the last
    row (the year's total) in bold."""
    pdf.font(size)
    align = align or ["LEFT", *["RIGHT"] * (len(head) - 1)]
    heading = FontFace(emphasis="BOLD", color=ACCENT, size_pt=7, fill_color=(255, 255, 255))
    pdf.set_fill_color(255, 255, 255)  # the rows between the zebra's
    with pdf.table(
        col_widths=tuple(widths),
        text_align=tuple(align),
        headings_style=heading,
        cell_fill_color=ZEBRA,
        cell_fill_mode="ROWS",
        borders_layout="HORIZONTAL_LINES",
        line_height=size * 0.55,
        padding=(1, 1.5),
        width=pdf.w - 2 * MARGIN,
    ) as table:
        header = table.row()
        for cell in head:
            header.cell(pdf.text_of(cell))
        for number, row in enumerate(rows):
            line = table.row()
            bold = total and number == len(rows) - 1
            style = FontFace(emphasis="BOLD") if bold else None
            for cell in row:
                line.cell(pdf.text_of(cell), style=style)
    pdf.ln(3)


def _summary(pdf: _Document, report: AnnualReport, currency: str) -> None:
    rows = summary_rows(report, currency)
    width = pdf.w - 2 * MARGIN
    columns = (width * 0.52, width * 0.16, width * 0.16, width * 0.16)
    pdf.set_draw_color(*RULE)
    pdf.font(9, bold=True, colour=ACCENT)
    for text, w, align in zip(
        ("", str(report.year), str(report.year - 1), _("évolution")),
        columns,
        "LRRR",
        strict=True,
    ):
        pdf.cell(w, 7, pdf.text_of(text), align=align)
    pdf.ln(7)
    for number, row in enumerate(rows):
        fill = number % 2 == 0
        pdf.set_fill_color(*ZEBRA)
        pdf.font(9.5)
        pdf.cell(columns[0], 6.2, pdf.text_of(row.label), fill=fill)
        pdf.font(9.5, bold=True)
        pdf.cell(columns[1], 6.2, pdf.text_of(row.current), align="R", fill=fill)
        pdf.font(9.5, colour=MUTED)
        pdf.cell(columns[2], 6.2, pdf.text_of(row.previous), align="R", fill=fill)
        colour = MUTED if row.up is None else (UP if row.up else DOWN)
        pdf.font(9.5, bold=row.up is not None, colour=colour)
        pdf.cell(columns[3], 6.2, pdf.text_of(row.change), align="R", fill=fill)
        pdf.ln(6.2)
    pdf.ln(2)


def _number(value: float) -> str:
    return str(format_decimal(value, format="#,##0.#"))


def render(report: AnnualReport, title: str, currency: str, today: date) -> bytes:
    """The report as PDF bytes, in the reader's language."""
    made = _("Établi le %(day)s avec Présence", day=format_date(today, "d MMMM y"))
    pdf = _Document(title, made)
    chart = chart_data(report)
    pdf.add_page()

    # The cover: what, where, when.
    pdf.set_fill_color(*ACCENT)
    pdf.rect(0, 0, pdf.w, 6, style="F")
    pdf.set_y(18)
    pdf.font(11, colour=MUTED)
    pdf.cell(0, 6, pdf.text_of(_("Rapport d'activité")), new_x="LMARGIN", new_y="NEXT")
    pdf.font(30, bold=True, colour=ACCENT)
    pdf.cell(0, 14, str(report.year), new_x="LMARGIN", new_y="NEXT")
    pdf.font(16, bold=True)
    where = report.site.name if report.site is not None else _("Tout le réseau")
    pdf.cell(0, 9, pdf.text_of(where), new_x="LMARGIN", new_y="NEXT")
    if report.site is None and len(report.sites) > 1:
        pdf.paragraph(", ".join(site.name for site in report.sites), colour=MUTED)
    pdf.paragraph(
        _("Les chiffres de l'année mois par mois, comparés à %(year)d.", year=report.year - 1),
        colour=MUTED,
    )
    pdf.heading(_("L'année en bref"))
    _summary(pdf, report, currency)
    notes = [
        _(
            "Les habitués de l'année sont les membres venus au moins %(num)d jours dans un "
            "des mois. Une personne venue plusieurs mois, ou dans plusieurs lieux, compte une "
            "fois.",
            num=report.regular_days,
        )
    ]
    if report.site is not None:
        notes.append(
            _(
                "Les membres, les parrainages et les recettes sont ceux de tout le réseau : "
                "ils ne dépendent pas d'un lieu."
            )
        )
    if report.current.totals.provisional:
        notes.append(_("Les recettes des mois qui ne sont pas clos sont provisoires."))
    pdf.paragraph(" ".join(notes), size=8.5, colour=MUTED)

    # Occupancy: the people's chart fits under the year in brief.
    pdf.heading(_("La fréquentation, mois par mois"), room=85)
    months = chart["months"]
    labels = chart["labels"]
    _chart(
        pdf,
        54,
        months,
        [
            Series(labels["members"], chart["members"], BARS[0]),
            Series(labels["regulars"], chart["regulars"], BARS[1]),
        ],
        Series(f"{labels['members']} {report.year - 1}", chart["members_before"], BEFORE),
        _number,
    )
    _chart(
        pdf,
        55,
        months,
        [Series(labels["hours"], chart["hours"], (107, 174, 214))],
        Series(f"{labels['hours']} {report.year - 1}", chart["hours_before"], BEFORE),
        _number,
    )
    head, rows = occupancy_table(report.current)
    width = pdf.w - 2 * MARGIN
    _table(pdf, head, rows, [width * 0.12, *[width * 0.11] * 8])

    # Events and community.
    pdf.heading(_("Les événements"), room=90)
    totals = report.current.totals
    pdf.paragraph(
        " ".join(
            [
                _(
                    "%(events)s événements, %(people)s participants.",
                    events=_number(totals.events),
                    people=_number(totals.attendance),
                ),
                by_whom_text(totals),
            ]
        )
    )
    events = events_rows(report)
    if events:
        _table(
            pdf,
            [_("Date"), _("Événement"), _("Lieu"), _("Proposé par"), _("Participants")],
            events,
            [width * 0.12, width * 0.42, width * 0.18, width * 0.16, width * 0.12],
            total=False,
            align=["LEFT", "LEFT", "LEFT", "LEFT", "RIGHT"],
        )
    else:
        pdf.paragraph(_("Aucun événement cette année."), colour=MUTED)
    pdf.heading(_("La communauté"), room=80)
    head, rows = community_table(report.current)
    _table(pdf, head, rows, [width * 0.2, *[width * 0.16] * 5])

    # Revenue.
    pdf.add_page()
    pdf.heading(_("Les recettes par formule"))
    _chart(
        pdf,
        70,
        months,
        [
            Series(labels[kind], chart["revenue"][kind], REVENUE_COLOURS[kind])
            for kind in REVENUE_KINDS
        ],
        Series(_("Total %(year)d", year=report.year - 1), chart["revenue_before"], BEFORE),
        _number,
        stacked=True,
    )
    head, rows = revenue_table(report.current, currency)
    _table(pdf, head, rows, [width * 0.13, *[width * 0.125] * 6, width * 0.12], size=7.5)
    pdf.paragraph(
        _("Recettes TTC ; un mois est provisoire tant qu'il n'est pas clos."),
        size=8.5,
        colour=MUTED,
    )
    return bytes(pdf.output())
