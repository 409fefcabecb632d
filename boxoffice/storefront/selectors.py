"""Reads for the public pages: plans as customers see them, and an order's progress as steps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan, PlanPrice


@dataclass(frozen=True)
class PlanOffer:
    """A plan with the words the storefront shows for it."""

    plan: Plan
    duration: str  # "1 month", "12 months", "2 weeks"
    screens: str  # "2 screens at once"
    monthly_price: Decimal | None  # set for plans longer than one month, to compare fairly
    devices: tuple[str, ...]
    price: Decimal  # in `currency`: the customer's where the plan has a price in it
    currency: str


def _months(days: int) -> int:
    if days % 365 == 0:
        return days // 365 * 12
    if days % 30 == 0:
        return days // 30
    return 0


def duration_in_words(days: int) -> str:
    """30 days reads as "1 month" and 365 as "12 months": the way plans are sold and compared."""
    if months := _months(days):
        return ngettext("%(count)d month", "%(count)d months", months) % {"count": months}
    if days % 7 == 0:
        weeks = days // 7
        return ngettext("%(count)d week", "%(count)d weeks", weeks) % {"count": weeks}
    return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}


def plan_offer(plan: Plan, currency: str = "") -> PlanOffer:
    price, currency = plan.price_in(currency)
    months = _months(plan.duration_days)
    monthly = None
    if months > 1 and price > 0:
        monthly = (price / months).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    screens = ngettext(
        "%(count)d screen at a time", "%(count)d screens at once", plan.connections
    ) % {"count": plan.connections}
    devices = [
        gettext("Apps on Smart TV, Fire TV, phone, tablet and computer (M3U / Xtream codes)")
    ]
    if plan.allow_mag:
        devices.append(gettext("MAG and Formuler set-top boxes"))
    return PlanOffer(
        plan=plan,
        duration=duration_in_words(plan.duration_days),
        screens=screens,
        monthly_price=monthly,
        devices=tuple(devices),
        price=price,
        currency=currency,
    )


def plans_for_sale(currency: str = "") -> list[PlanOffer]:
    plans = Plan.objects.filter(active=True).prefetch_related("prices")
    return [plan_offer(plan, currency) for plan in plans]


def currencies_for_sale() -> list[str]:
    """Every currency some plan on sale has a price in, the plans' own first."""
    own = list(dict.fromkeys(Plan.objects.filter(active=True).values_list("currency", flat=True)))
    others = PlanPrice.objects.filter(plan__active=True).values_list("currency", flat=True)
    return own + sorted(set(others) - set(own))


# Where a browser's language names a region, its usual currency (the storefront offers it
# first; the customer can switch). ISO 3166-1 alpha-2 -> ISO 4217.
_EURO = "AT BE CY DE EE ES FI FR GR HR IE IT LT LU LV MT NL PT SI SK"
REGION_CURRENCY = {
    **dict.fromkeys(_EURO.split(), "EUR"),
    "GB": "GBP",
    "US": "USD",
    "CA": "CAD",
    "AU": "AUD",
    "NZ": "NZD",
    "CH": "CHF",
    "SE": "SEK",
    "NO": "NOK",
    "DK": "DKK",
    "PL": "PLN",
    "CZ": "CZK",
    "HU": "HUF",
    "RO": "RON",
    "TR": "TRY",
    "AE": "AED",
    "SA": "SAR",
    "MA": "MAD",
    "IN": "INR",
    "BR": "BRL",
    "MX": "MXN",
    "ZA": "ZAR",
}
SESSION_CURRENCY = "storefront_currency"
_LANGUAGE_REGION = re.compile(r"^[a-z]{2,3}[-_]([a-z]{2})$", re.I)


def customer_currency(request) -> str:
    """The currency prices are shown (and charged) in: the one the customer chose, else the
    first region their browser's languages name, else "" (each plan's own)."""
    offered = currencies_for_sale()
    chosen = request.session.get(SESSION_CURRENCY, "")
    if chosen in offered:
        return chosen
    for part in request.headers.get("Accept-Language", "").split(",")[:8]:
        match = _LANGUAGE_REGION.match(part.split(";")[0].strip())
        if match:
            currency = REGION_CURRENCY.get(match.group(1).upper(), "")
            if currency in offered:
                return currency
    return ""


@dataclass(frozen=True)
class Step:
    label: str
    state: str  # "done" | "current" | "failed" | "todo"


_STEP_LABELS = (_("Payment"), _("Setting up your line"), _("Ready"))


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
