"""Printable QR badge cards: a PNG or SVG per card, and A4 sheets of CR80 cards.

Needs qrcode and fpdf2 (the server extra): the kiosk uses `badges.tokens` only.

A CR80 card is 85.6 x 54 mm (a bank card). Ten fit an A4 page in two columns of five,
edge to edge, with cut marks in the margins along every cut line. Each card shows the
space's name (and logo), the member's name, the badge's label, and the QR code with its
quiet zone of four modules, which scanners need to find it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qrcode
import qrcode.constants
from fpdf import FPDF
from qrcode.image.svg import SvgPathImage

CARD_W, CARD_H = 85.6, 54.0  # mm, ISO/IEC 7810 ID-1
PAGE_W, PAGE_H = 210.0, 297.0
COLUMNS, ROWS = 2, 5
MARGIN_X = (PAGE_W - COLUMNS * CARD_W) / 2
MARGIN_Y = (PAGE_H - ROWS * CARD_H) / 2
QR_SIZE = 40.0  # mm, quiet zone included: about 0.9 mm a module at version 5
MARK = 5.0  # length of a cut mark, mm
FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)


@dataclass(frozen=True)
class Card:
    name: str
    label: str
    token: str


def _qr(token: str) -> qrcode.QRCode[Any]:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(token)
    code.make(fit=True)
    return code


def qr_png(token: str) -> bytes:
    """The QR code alone, as PNG (what a member shows on a phone)."""
    out = io.BytesIO()
    _qr(token).make_image().save(out, format="PNG")
    return out.getvalue()


def qr_svg(token: str) -> str:
    out = io.BytesIO()
    _qr(token).make_image(image_factory=SvgPathImage).save(out)
    return out.getvalue().decode()


class _Sheet(FPDF):
    def __init__(self, font: Path | None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.set_margin(0)
        self.unicode = font is not None
        if font is not None:
            self.add_font("card", "", str(font))
            self.family = "card"
        else:
            self.family = "helvetica"

    def text_of(self, text: str) -> str:
        # Without a Unicode font the PDF core fonts cover Latin-1 only.
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")


def cards_pdf(
    cards: Sequence[Card], title: str, logo: Path | None = None, font: Path | None = None
) -> bytes:
    """A4 pages of CR80 cards with cut marks."""
    font = font or next((path for path in FONTS if path.exists()), None)
    pdf = _Sheet(font)
    per_page = COLUMNS * ROWS
    for start in range(0, len(cards), per_page):
        pdf.add_page()
        _cut_marks(pdf)
        for index, card in enumerate(cards[start : start + per_page]):
            x = MARGIN_X + (index % COLUMNS) * CARD_W
            y = MARGIN_Y + (index // COLUMNS) * CARD_H
            _card(pdf, card, x, y, title, logo)
    return bytes(pdf.output())


def _cut_marks(pdf: _Sheet) -> None:
    pdf.set_draw_color(0)
    pdf.set_line_width(0.2)
    for column in range(COLUMNS + 1):
        x = MARGIN_X + column * CARD_W
        pdf.line(x, MARGIN_Y - MARK - 1, x, MARGIN_Y - 1)
        pdf.line(x, PAGE_H - MARGIN_Y + 1, x, PAGE_H - MARGIN_Y + MARK + 1)
    for row in range(ROWS + 1):
        y = MARGIN_Y + row * CARD_H
        pdf.line(MARGIN_X - MARK - 1, y, MARGIN_X - 1, y)
        pdf.line(PAGE_W - MARGIN_X + 1, y, PAGE_W - MARGIN_X + MARK + 1, y)


def _card(pdf: _Sheet, card: Card, x: float, y: float, title: str, logo: Path | None) -> None:
    pad = 4.0
    qr_x, qr_y = x + CARD_W - QR_SIZE - 2.0, y + (CARD_H - QR_SIZE) / 2
    pdf.image(io.BytesIO(qr_png(card.token)), qr_x, qr_y, QR_SIZE, QR_SIZE)
    text_w = qr_x - x - pad - 1.0
    top = y + pad
    if logo is not None and logo.exists():
        pdf.image(str(logo), x + pad, top, h=8.0)
        top += 10.0
    pdf.set_text_color(60)
    pdf.set_font(pdf.family, size=8)
    pdf.set_xy(x + pad, top)
    pdf.cell(text_w, 4, pdf.text_of(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_font(pdf.family, size=15)
    pdf.set_xy(x + pad, y + CARD_H / 2 - 4)
    pdf.multi_cell(text_w, 6.5, pdf.text_of(card.name), align="L")
    pdf.set_text_color(90)
    pdf.set_font(pdf.family, size=7)
    pdf.set_xy(x + pad, y + CARD_H - pad - 4)
    pdf.cell(text_w, 4, pdf.text_of(card.label))


TICKET_W, TICKET_H = 105.0, 148.0  # mm, A6: a postcard, printed or kept on a phone
TICKET_QR = 70.0  # mm, quiet zone included


def ticket_pdf(
    title: str, when: str, place: str, name: str, token: str, font: Path | None = None
) -> bytes:
    """An event ticket on one A6 page: the event, when and where, the holder, the QR code."""
    font = font or next((path for path in FONTS if path.exists()), None)
    pdf = _Sheet(font)
    pdf.set_title(title)
    pdf.add_page(format=(TICKET_W, TICKET_H))
    pad = 8.0
    width = TICKET_W - 2 * pad
    pdf.set_xy(pad, pad)
    pdf.set_font(pdf.family, size=16)
    pdf.multi_cell(width, 7, pdf.text_of(title), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, size=10)
    for line in (when, place):
        pdf.set_x(pad)
        pdf.multi_cell(width, 5, pdf.text_of(line), align="L", new_x="LMARGIN", new_y="NEXT")
    qr_top = max(pdf.get_y() + 4.0, TICKET_H - pad - TICKET_QR - 12.0)
    pdf.image(io.BytesIO(qr_png(token)), (TICKET_W - TICKET_QR) / 2, qr_top, TICKET_QR, TICKET_QR)
    pdf.set_font(pdf.family, size=13)
    pdf.set_xy(pad, qr_top + TICKET_QR + 2.0)
    pdf.multi_cell(width, 6, pdf.text_of(name), align="C")
    return bytes(pdf.output())
