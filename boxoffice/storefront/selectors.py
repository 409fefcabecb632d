"""Reads for the public pages: plans as customers see them, and an order's progress as steps."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan


@dataclass(frozen=True)
class PlanOffer:
    """A plan with the words the storefront shows for it."""

    plan: Plan
    duration: str  # "1 month", "12 months", "2 weeks"
    screens: str  # "2 screens at once"
    monthly_price: Decimal | None  # set for plans longer than one month, to compare fairly
    devices: tuple[str, ...]


def _months(days: int) -> int:
    if days % 365 == 0:
        return days // 365 * 12
    if days % 30 == 0:
        return days // 30
    return 0


def duration_in_words(days: int) -> str:
    """30 days reads as "1 month" and 365 as "12 months": the way plans are sold and compared."""
    if months := _months(days):
        return "1 month" if months == 1 else f"{months} months"
    if days % 7 == 0:
        weeks = days // 7
        return "1 week" if weeks == 1 else f"{weeks} weeks"
    return "1 day" if days == 1 else f"{days} days"


def plan_offer(plan: Plan) -> PlanOffer:
    months = _months(plan.duration_days)
    monthly = None
    if months > 1 and plan.price > 0:
        monthly = (plan.price / months).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    screens = (
        "1 screen at a time" if plan.connections == 1 else f"{plan.connections} screens at once"
    )
    devices = ["Apps on Smart TV, Fire TV, phone, tablet and computer (M3U / Xtream codes)"]
    if plan.allow_mag:
        devices.append("MAG and Formuler set-top boxes")
    return PlanOffer(
        plan=plan,
        duration=duration_in_words(plan.duration_days),
        screens=screens,
        monthly_price=monthly,
        devices=tuple(devices),
    )


def plans_for_sale() -> list[PlanOffer]:
    return [plan_offer(plan) for plan in Plan.objects.filter(active=True)]


@dataclass(frozen=True)
class Step:
    label: str
    state: str  # "done" | "current" | "failed" | "todo"


_STEP_LABELS = ("Payment", "Setting up your line", "Ready")


def progress_steps(*, stage: str, order: Order) -> list[Step]:
    """The three steps the customer sees, from the billing stage of their order."""
    if stage == "active":
        return [Step(label, "done") for label in _STEP_LABELS]
    if stage in ("provisioning", "delayed"):
        current = 1
    elif stage == "review":
        # The operator is looking at it: show where the order stands, money first.
        current = 1 if order.status == Order.Status.PAID else 0
    else:  # awaiting_payment, payment_pending, failed
        current = 0
    steps = []
    for index, label in enumerate(_STEP_LABELS):
        if index < current:
            state = "done"
        elif index == current:
            state = "failed" if stage == "failed" else "current"
        else:
            state = "todo"
        steps.append(Step(label, state))
    return steps


def poll_seconds(*, stage: str, bank_instructions: str) -> int:
    """How often the status page asks again. A bank transfer takes hours or days to arrive, so a
    page left open on it should not hit the server every two seconds."""
    if bank_instructions and stage in ("awaiting_payment", "payment_pending"):
        return 15
    return 2
