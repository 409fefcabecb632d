"""An invoice or credit note as a PDF (fpdf2 with the bundled DejaVu Sans, text shaping on, so
€, Cyrillic and Arabic names print correctly, Arabic joined and right to left)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from fpdf import FPDF
from fpdf.enums import XPos, YPos

if TYPE_CHECKING:
    from boxoffice.billing.models import Invoice

FONTS = Path(__file__).resolve().parent / "fonts"
NEXT = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


def _money(value: Decimal | str, currency: str) -> str:
    return f"{Decimal(value):,.2f} {currency}"


def _block(pdf: FPDF, lines: list[str]) -> None:
    for text in lines:
        if text:
            pdf.multi_cell(90, 5, text, **NEXT)


def invoice_render_pdf(invoice: Invoice) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(invoice.number)
    pdf.set_author(invoice.seller.get("legal_name", ""))
    pdf.set_creator("Boxoffice")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_text_shaping(True)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    seller, buyer = invoice.seller, invoice.buyer
    credit = invoice.kind == invoice.Kind.CREDIT_NOTE
    title = "Credit note" if credit else "Invoice"

    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 10, f"{title} {invoice.number}", **NEXT)
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(0, 6, f"Date: {invoice.issued_at:%Y-%m-%d}", **NEXT)
    if credit and invoice.credits_id:
        pdf.cell(0, 6, f"Credits invoice {invoice.credits.number}", **NEXT)
    pdf.cell(0, 6, f"Order: {invoice.order.reference}", **NEXT)
    pdf.ln(4)

    top = pdf.get_y()
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(90, 6, "From", **NEXT)
    pdf.set_font("DejaVu", "", 10)
    _block(
        pdf,
        [
            seller.get("legal_name", ""),
            seller.get("address", ""),
            seller.get("country", ""),
            f"VAT number: {seller['vat_id']}" if seller.get("vat_id") else "",
            seller.get("registration", ""),
            seller.get("email", ""),
        ],
    )
    left_end = pdf.get_y()
    pdf.set_xy(110, top)
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(90, 6, "Bill to", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", 10)
    for text in (
        buyer.get("name", ""),
        buyer.get("address", ""),
        buyer.get("country", ""),
        f"VAT number: {buyer['vat_id']}" if buyer.get("vat_id") else "",
        buyer.get("email", ""),
    ):
        if text:
            pdf.set_x(110)
            pdf.multi_cell(90, 5, text, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(left_end, pdf.get_y()) + 8)

    currency = invoice.currency
    with pdf.table(col_widths=(110, 20, 50), text_align=("LEFT", "RIGHT", "RIGHT")) as table:
        header = table.row()
        for text in ("Description", "Qty", "Amount (net)"):
            header.cell(text)
        for item in invoice.items:
            row = table.row()
            row.cell(str(item.get("description", "")))
            row.cell(str(item.get("quantity", 1)))
            row.cell(_money(item.get("net", "0"), currency))
    pdf.ln(4)

    tax_label = (
        f"{invoice.tax_name or 'Tax'} {invoice.tax_rate.normalize():f} % ({invoice.tax_country})"
        if invoice.tax_rate
        else "Tax"
    )
    for label, value, bold in (
        ("Net", invoice.net, False),
        (tax_label, invoice.tax, False),
        ("Total", invoice.total, True),
    ):
        pdf.set_font("DejaVu", "B" if bold else "", 11 if bold else 10)
        pdf.cell(pdf.epw - 50, 7, label, align="R")
        pdf.cell(50, 7, _money(value, currency), align="R", **NEXT)
    pdf.set_font("DejaVu", "", 9)
    pdf.ln(4)
    if not invoice.tax_rate:
        pdf.multi_cell(0, 5, "No tax charged.", **NEXT)
    paid = "Refunded" if credit else "Paid"
    pdf.multi_cell(0, 5, f"{paid} {_money(abs(invoice.total), currency)}.", **NEXT)
    if seller.get("footer"):
        pdf.ln(2)
        pdf.multi_cell(0, 5, seller["footer"], **NEXT)
    return bytes(pdf.output())
