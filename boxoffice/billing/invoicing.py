"""Invoices and credit notes: one invoice per confirmed payment (first purchase, renewal,
upgrade), one credit note per refund, numbered without gaps per series and year.

- Issued in the transaction that records the payment (`invoice_issue`): the number comes from
  the series row, locked (`SELECT … FOR UPDATE`; SQLite serialises writers), so concurrent
  payments get consecutive numbers and a rolled-back payment leaves no hole.
- Immutable: the seller's and the buyer's details, the items and the tax are snapshots on the
  row; the model refuses changes (corrections are credit notes). The PDF is rendered from the
  snapshot on first use and stored, so every copy is the same file (`invoice_pdf`).
- Tax: the rate of the customer's country (`TaxRate`; none: no tax). Amounts are what was paid
  (gross); the net is gross / (1 + rate), rounded half-up to the cent, and the tax the rest,
  so net + tax is always the amount paid. Where prices exclude tax (`BusinessDetails`), checkout
  adds the tax to the order's amount first (`price_with_tax`).
- The receipt mail ("payment received") carries the PDF; portal and back office download it.
- Only once the operator has filled in the business details (legal name and address): an
  invoice without its issuer is no invoice. Until then payments are recorded as always.
"""

from __future__ import annotations

import hashlib
import logging
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from boxoffice.billing.invoice_pdf import invoice_render_pdf
from boxoffice.billing.models import (
    BusinessDetails,
    CouponRedemption,
    Invoice,
    InvoiceSeries,
    Order,
    Payment,
    TaxRate,
)
from boxoffice.lib.exists import rows_exist
from boxoffice.messaging.emails import email_send, site_link
from boxoffice.messaging.models import Message
from boxoffice.messaging.services import attachment_provider_register

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")
_SERIES = {Invoice.Kind.INVOICE: "INV", Invoice.Kind.CREDIT_NOTE: "CN"}


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def tax_rate_for(country: str) -> TaxRate | None:
    return TaxRate.objects.filter(country=(country or "").upper()).first() if country else None


def split_gross(gross: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """(net, tax) of an amount that includes tax at `rate` percent; net + tax == gross."""
    net = _cents(gross / (1 + rate / 100)) if rate else _cents(gross)
    return net, _cents(gross) - net


def price_with_tax(price: Decimal, country: str) -> Decimal:
    """What the customer pays for `price`: the price itself where prices include tax, else
    the price plus its country's tax (rounded half-up to the cent)."""
    if BusinessDetails.current().prices_include_tax:
        return price
    rate = tax_rate_for(country)
    return price + _cents(price * rate.rate / 100) if rate else price


def _next_number(kind: str):
    """(series, sequence, number, issued_at): the date is read once the series is locked, so a
    higher number never carries an earlier date."""
    series = f"{_SERIES[kind]}-{timezone.now():%Y}"
    InvoiceSeries.objects.get_or_create(key=series)
    row = InvoiceSeries.objects.select_for_update().get(key=series)
    now = timezone.now()
    if f"{now:%Y}" != series[-4:]:  # the year turned while we waited for the lock
        return _next_number(kind)
    sequence = row.next_number
    InvoiceSeries.objects.filter(pk=row.pk).update(next_number=sequence + 1)
    return series, sequence, f"{series}-{sequence:06d}", now


def _seller(details: BusinessDetails) -> dict:
    return {
        "legal_name": details.legal_name,
        "address": details.address,
        "country": details.country,
        "vat_id": details.vat_id,
        "registration": details.registration,
        "email": details.email,
        "footer": details.invoice_footer,
    }


def _buyer(order: Order) -> dict:
    customer = order.customer
    return {
        "name": customer.billing_name or order.name or customer.name,
        "email": customer.email,
        "country": order.country or customer.country,
        "address": customer.billing_address,
        "vat_id": customer.vat_id,
    }


def _description(order: Order) -> str:
    plan = order.plan
    period = (
        f"{plan.duration_hours} hours"
        if getattr(plan, "duration_hours", None)
        else f"{plan.duration_days} days"
    )
    what = {
        Order.Kind.RENEWAL: "renewal",
        Order.Kind.UPGRADE: "plan change",
        Order.Kind.ADDON: "add-on",
        Order.Kind.CONVERSION: "trial converted to paid",
    }.get(order.kind, "subscription")
    return f"{settings.SITE_NAME} {plan.name}, {period} ({what}, order {order.reference})"


def _items(order: Order, net: Decimal, rate: Decimal) -> list[dict]:
    """The invoice's lines: the plan, and a discount line where a coupon took something off
    (the plan at its full net price, the discount as the difference, so the lines add up)."""
    redemption = CouponRedemption.objects.filter(order=order).select_related("coupon").first()
    if redemption is None or not redemption.discount:
        return [{"description": _description(order), "quantity": 1, "net": str(net)}]
    full_net, _ = split_gross(redemption.full_price, rate)
    return [
        {"description": _description(order), "quantity": 1, "net": str(full_net)},
        {
            "description": f"Discount {redemption.coupon.code}",
            "quantity": 1,
            "net": str(net - full_net),
        },
    ]


def _business_details_saved():
    return BusinessDetails.objects.filter(pk=1)


def invoice_issue(*, order: Order, payment: Payment, new_payment: bool = False) -> Invoice | None:
    """The invoice of a confirmed payment, in the caller's transaction (the one that records
    the payment); None for a free order. One per payment; its receipt mail is queued with it.
    `new_payment`: the caller has just recorded it, so no invoice can exist yet."""
    if payment.amount <= 0:
        return None
    existing = None if new_payment else Invoice.objects.filter(payment=payment).first()
    if existing is not None:
        return existing
    # A shop that never saved its business details issues no invoices: one precompiled EXISTS.
    if not rows_exist(_business_details_saved):
        return None
    details = BusinessDetails.current()
    if not details.issues_invoices:
        return None
    with transaction.atomic():
        buyer = _buyer(order)
        rate = tax_rate_for(buyer["country"])
        percent = rate.rate if rate else Decimal("0")
        net, tax = split_gross(payment.amount, percent)
        series, sequence, number, now = _next_number(Invoice.Kind.INVOICE)
        invoice = Invoice.objects.create(
            kind=Invoice.Kind.INVOICE,
            series=series,
            sequence=sequence,
            number=number,
            order=order,
            customer=order.customer,
            payment=payment,
            issued_at=now,
            currency=payment.currency,
            net=net,
            tax=tax,
            total=_cents(payment.amount),
            tax_rate=percent,
            tax_name=rate.name if rate else "",
            tax_country=(buyer["country"] or "").upper(),
            prices_include_tax=details.prices_include_tax,
            seller=_seller(details),
            buyer=buyer,
            items=_items(order, net, percent),
        )
        _receipt_email_send(invoice)
    return invoice


def credit_note_issue(*, order: Order, refund: Payment) -> Invoice | None:
    """A credit note for a refund (a negative ledger row) of an invoiced order, in the
    caller's transaction; None where nothing was invoiced."""
    original = Invoice.objects.filter(order=order, kind=Invoice.Kind.INVOICE).order_by("pk").first()
    if original is None or refund.amount >= 0:
        return None
    existing = Invoice.objects.filter(payment=refund).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        net, tax = split_gross(-refund.amount, original.tax_rate)
        series, sequence, number, now = _next_number(Invoice.Kind.CREDIT_NOTE)
        return Invoice.objects.create(
            kind=Invoice.Kind.CREDIT_NOTE,
            series=series,
            sequence=sequence,
            number=number,
            order=order,
            customer=order.customer,
            payment=refund,
            credits=original,
            issued_at=now,
            currency=refund.currency,
            net=-net,
            tax=-tax,
            total=_cents(refund.amount),
            tax_rate=original.tax_rate,
            tax_name=original.tax_name,
            tax_country=original.tax_country,
            prices_include_tax=original.prices_include_tax,
            seller=original.seller,
            buyer=original.buyer,
            items=[
                {
                    "description": f"Refund for invoice {original.number}",
                    "quantity": 1,
                    "net": str(-net),
                }
            ],
        )


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF: rendered from its snapshot the first time, then always that file."""
    if invoice.pdf:
        return bytes(invoice.pdf)
    content = invoice_render_pdf(invoice)
    # The first renderer stores its file; a concurrent one reads that one back.
    Invoice.objects.filter(pk=invoice.pk, pdf__isnull=True).update(pdf=content)
    stored = Invoice.objects.values_list("pdf", flat=True).get(pk=invoice.pk)
    invoice.pdf = stored
    return bytes(stored)


def invoice_filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"


def invoice_pdf_digest(invoice: Invoice) -> str:
    return hashlib.sha256(invoice_pdf(invoice)).hexdigest()


@attachment_provider_register("invoice_pdf")
def _invoice_attachment(ref: str) -> tuple[str, bytes, str]:
    invoice = Invoice.objects.get(pk=int(ref))
    return invoice_filename(invoice), invoice_pdf(invoice), "application/pdf"


def _receipt_email_send(invoice: Invoice) -> Message:
    order = invoice.order
    return email_send(
        kind="payment_receipt",
        dedupe_key=f"payment_receipt:invoice:{invoice.pk}",
        to_email=order.customer.email,
        template="billing/email/payment_receipt",
        subject=f"Payment received: invoice {invoice.number}",
        context=lambda: {
            "invoice": invoice,
            "name": (invoice.buyer.get("name") or "").split(" ")[0] or "there",
            "portal_url": site_link("/portal/"),
        },
        customer=order.customer,
        order=order,
        attachments=[{"provider": "invoice_pdf", "ref": str(invoice.pk)}],
        # Rendering the PDF and the SMTP hand-off happen in a worker, never in a page request.
        in_worker=True,
    )
