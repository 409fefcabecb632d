"""What a plan change or an add-on costs: the quote, computed with Decimal and frozen on the
order at checkout (`Order.quote`, `Order.amount`), so a slow payment cannot change it.

The rule (docs/architecture.md, and stated on the portal's pages):
- **Upgrade** (a plan that costs more per day than the line's): the expiry stays the same and
  the new plan applies at once. Credit for the unused part of the current plan =
  current price × remaining time / current period; charge for the new plan over the same
  remaining time = new price × remaining time / new period; each rounded to the cent (half up);
  pay the difference now (never below zero). A line's add-on extra connections count in both
  prices, at each plan's extra-connection price (the new plan keeps as many as it sells).
- **Downgrade** (any other plan sold on the line's server): nothing to pay now; the next
  renewal is of the new plan (its price and period) and changes the line then.
- **Add-on**: an extra connection costs the plan's `extra_connection_price` per period,
  charged now for the remaining time the same way; every renewal after charges it in full.

Why this rule: panels renew in whole packages (reference/renewals.md), so keeping the expiry
keeps one renewal date and one package per period; the customer pays only for the time the
better plan is used, and a renewal is always a whole period of one plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from boxoffice.catalog.models import Plan
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.plan_changes import line_effective_expiry

CENT = Decimal("0.01")
RULE = (
    "Upgrades apply at once and keep your expiry: you pay the new plan's price for the time "
    "left, less the unused value of your current plan (each price × time left ÷ its period, "
    "rounded to the cent). Cheaper plans start at your next renewal."
)
ADDON_RULE = (
    "An extra connection costs {price} {currency} per {days} days: now you pay it for the "
    "time left until your expiry (price × time left ÷ period, rounded to the cent), and every "
    "renewal after includes it."
)


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def prorated(price: Decimal, *, remaining_seconds: int, period_seconds: int) -> Decimal:
    """price × remaining / period, to the cent, half up."""
    return money(price * Decimal(remaining_seconds) / Decimal(period_seconds))


def plan_value(plan: Plan, extra_connections: int) -> Decimal:
    """One period of the plan with that many add-on connections, at list prices."""
    return plan.price + extra_connections * (plan.extra_connection_price or Decimal("0"))


def extras_kept(plan: Plan, extra_connections: int) -> int:
    """How many of a line's extra connections a plan keeps (as many as it sells)."""
    return min(extra_connections, plan.max_extra_connections if plan.sells_extra_connections else 0)


def _seconds(plan: Plan) -> int:
    return int(plan.duration.total_seconds())


@dataclass(frozen=True)
class Quote:
    """The figures of one upgrade or add-on for one line at one moment."""

    kind: str  # "upgrade" | "addon"
    line_id: int
    from_plan: Plan
    to_plan: Plan
    expires_at: datetime
    remaining_seconds: int
    extra_from: int
    extra_to: int
    current_value: Decimal  # per current period (0 for an add-on)
    new_value: Decimal  # per new period (for an add-on: the extras bought, per period)
    credit: Decimal
    charge: Decimal
    pay: Decimal
    currency: str

    @property
    def connections(self) -> int:
        return self.to_plan.connections + self.extra_to

    @property
    def remaining_days(self) -> Decimal:
        return (Decimal(self.remaining_seconds) / Decimal(86400)).quantize(Decimal("0.1"))

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "line": self.line_id,
            "from_plan": self.from_plan.pk,
            "to_plan": self.to_plan.pk,
            "expires_at": self.expires_at.isoformat(),
            "remaining_seconds": self.remaining_seconds,
            "from_period_seconds": _seconds(self.from_plan),
            "to_period_seconds": _seconds(self.to_plan),
            "extra_from": self.extra_from,
            "extra_to": self.extra_to,
            "current_value": str(self.current_value),
            "new_value": str(self.new_value),
            "credit": str(self.credit),
            "charge": str(self.charge),
            "pay": str(self.pay),
            "currency": self.currency,
        }


def _remaining(line: Line, now: datetime) -> tuple[datetime, int]:
    expiry = line_effective_expiry(line)
    if expiry is None:
        raise ValueError("a line without an expiry has no remaining time")
    return expiry, max(int((expiry - now).total_seconds()), 0)


def upgrade_quote(*, line: Line, plan: Plan, now: datetime | None = None) -> Quote:
    now = now or timezone.now()
    expiry, remaining = _remaining(line, now)
    current = line.plan
    kept = extras_kept(plan, line.extra_connections)
    current_value = plan_value(current, line.extra_connections)
    new_value = plan_value(plan, kept)
    credit = prorated(current_value, remaining_seconds=remaining, period_seconds=_seconds(current))
    charge = prorated(new_value, remaining_seconds=remaining, period_seconds=_seconds(plan))
    return Quote(
        kind="upgrade",
        line_id=line.pk,
        from_plan=current,
        to_plan=plan,
        expires_at=expiry,
        remaining_seconds=remaining,
        extra_from=line.extra_connections,
        extra_to=kept,
        current_value=current_value,
        new_value=new_value,
        credit=credit,
        charge=charge,
        pay=max(charge - credit, Decimal("0")),
        currency=plan.currency,
    )


def addon_quote(*, line: Line, count: int, now: datetime | None = None) -> Quote:
    """`count` more extra connections for the line's remaining time."""
    now = now or timezone.now()
    plan = line.plan
    if not plan.sells_extra_connections:
        raise ValueError(f"{plan.name} sells no extra connections")
    if count < 1 or line.extra_connections + count > plan.max_extra_connections:
        raise ValueError(
            f"{plan.name} allows up to {plan.max_extra_connections} extra connections; "
            f"this line has {line.extra_connections}"
        )
    expiry, remaining = _remaining(line, now)
    value = count * (plan.extra_connection_price or Decimal("0"))
    charge = prorated(value, remaining_seconds=remaining, period_seconds=_seconds(plan))
    return Quote(
        kind="addon",
        line_id=line.pk,
        from_plan=plan,
        to_plan=plan,
        expires_at=expiry,
        remaining_seconds=remaining,
        extra_from=line.extra_connections,
        extra_to=line.extra_connections + count,
        current_value=Decimal("0"),
        new_value=value,
        credit=Decimal("0"),
        charge=charge,
        pay=charge,
        currency=plan.currency,
    )


def _per_day(plan: Plan, extras: int) -> Decimal:
    return plan_value(plan, extras) / Decimal(_seconds(plan))


def is_upgrade(*, line: Line, plan: Plan) -> bool:
    """Costs more per day than the line's plan (with the extras each keeps): paid now."""
    kept = extras_kept(plan, line.extra_connections)
    return _per_day(plan, kept) > _per_day(line.plan, line.extra_connections)


def plan_change_targets(*, line: Line) -> list[Plan]:
    """The plans a line may move to: on sale, paid, in its currency, and sold on its server
    (the line stays where it is). Any duration: the expiry does not change, and the renewal
    after is a whole period of the new plan."""
    return list(
        Plan.objects.filter(
            active=True,
            is_trial=False,
            currency=line.plan.currency,
            panel_mappings__panel=line.panel_id,
        )
        .exclude(pk=line.plan_id)
        .order_by("sort_order", "price", "pk")
    )


@dataclass(frozen=True)
class PlanChoice:
    plan: Plan
    upgrade: bool
    quote: Quote | None  # for an upgrade


def plan_change_choices(*, line: Line, now: datetime | None = None) -> list[PlanChoice]:
    now = now or timezone.now()
    choices = []
    for plan in plan_change_targets(line=line):
        up = is_upgrade(line=line, plan=plan)
        quote = upgrade_quote(line=line, plan=plan, now=now) if up else None
        choices.append(PlanChoice(plan=plan, upgrade=up, quote=quote))
    return choices


@dataclass(frozen=True)
class RenewalTerms:
    """What the line's next renewal is: its plan (a scheduled downgrade's), price, extras."""

    plan: Plan
    amount: Decimal
    extra_connections: int
    changes_plan: bool
    currency: str = ""

    def as_json(self, line: Line) -> dict:
        quote: dict = {
            "kind": "renewal",
            "plan_price": str(self.plan.price_in(self.currency)[0]),
            "currency": self.currency or self.plan.currency,
            "extra_connections": self.extra_connections,
            "extra_connection_price": str(self.plan.extra_connection_price or "0"),
        }
        if self.changes_plan:
            quote["plan_change"] = {
                "from_plan": line.plan_id,
                "to_plan": self.plan.pk,
                "extra_connections": self.extra_connections,
            }
        return quote


def renewal_terms(line: Line) -> RenewalTerms:
    plan = line.next_plan if line.next_plan_id and line.next_plan_id != line.plan_id else None
    if plan is not None and plan not in plan_change_targets(line=line):
        # Taken off sale (or off the line's server) since it was chosen: the line renews as
        # it is rather than into a plan the panel could not be given.
        plan = None
    target = plan or line.plan
    extras = extras_kept(target, line.extra_connections)
    amount, currency = plan_value(target, extras), target.currency
    paid_in = line_currency(line)
    if not extras and paid_in != target.currency:
        # A line bought in another currency renews in it where the plan has a price in it
        # (add-on connections are priced in the plan's own currency only).
        amount, currency = target.price_in(paid_in)
    return RenewalTerms(
        plan=target,
        amount=amount,
        extra_connections=extras,
        changes_plan=plan is not None,
        currency=currency,
    )


def line_currency(line: Line) -> str:
    """The currency the line was bought in (its first order's), or its plan's."""
    first = line.order
    return (first.currency if first is not None else line.plan.currency).upper()
