"""The money side of each line for the operator's renewals page: how it renews, the last
payment and the failures since. Reads only; one query for the lines of a page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from boxoffice.billing.models import Payment


@dataclass(frozen=True)
class LineBilling:
    mode: str  # "one-time payments" (pay links and reminders) | "automatic" (a gateway charges)
    last_paid_at: object = None
    last_amount: Decimal | None = None
    last_currency: str = ""
    last_gateway: str = ""
    failures: int = 0  # failed payments since the last confirmed one


ONE_TIME = "one-time payments"
AUTOMATIC = "automatic (the gateway charges each period)"


def lines_billing(lines: Iterable) -> dict[int, LineBilling]:
    """LineBilling per line id for `lines` (Line rows with `order_id`)."""
    lines = list(lines)
    by_order: dict[int, int] = {line.order_id: line.pk for line in lines if line.order_id}
    line_ids = [line.pk for line in lines]
    payments = (
        Payment.objects.filter(
            Q(order_id__in=list(by_order)) | Q(order__target_line_id__in=line_ids)
        )
        .filter(status__in=[Payment.Status.CONFIRMED, Payment.Status.FAILED])
        .values(
            "order_id",
            "order__target_line_id",
            "status",
            "amount",
            "currency",
            "gateway",
            "created_at",
        )
        .order_by("created_at", "id")
    )
    per_line: dict[int, list[dict]] = defaultdict(list)
    for row in payments:
        line_id = row["order__target_line_id"] or by_order.get(row["order_id"])
        if line_id is not None:
            per_line[line_id].append(row)
    summary = {}
    for line in lines:
        last = None
        failures = 0
        for row in per_line.get(line.pk, []):
            if row["status"] == Payment.Status.CONFIRMED:
                last, failures = row, 0
            else:
                failures += 1
        summary[line.pk] = LineBilling(
            mode=AUTOMATIC if getattr(line, "auto_renew", False) else ONE_TIME,
            last_paid_at=last["created_at"] if last else None,
            last_amount=last["amount"] if last else None,
            last_currency=last["currency"] if last else "",
            last_gateway=last["gateway"] if last else "",
            failures=failures,
        )
    return summary
