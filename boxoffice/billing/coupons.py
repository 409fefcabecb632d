"""Coupons at checkout: the discount shown before paying, carried into the order's amount (so
into the gateway's amount, the webhook's amount check and the invoice).

- `coupon_quote` says what a code would take off (or why not) without writing anything: the
  checkout page shows it when the customer presses Apply.
- `coupon_redeem` runs in the transaction that creates the order: it locks the coupon row,
  counts the uses that still count (orders paid or still payable), refuses past a limit and
  writes the redemption. Concurrent checkouts queue on the lock, so limits hold.
- Rules: a validity window, plans (none: all), first purchase only or renewals only, a limit
  overall and per customer. A percentage is rounded half-up to the cent; a fixed amount only in
  its own currency; a discount never exceeds the price. Not for auto-renewing plans (the
  gateway would charge the full price from the second period without saying so).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from boxoffice.billing.models import Coupon, CouponRedemption, Order

CENT = Decimal("0.01")
# Orders whose coupon use still counts: paid, or still payable.
_COUNTING = (
    Order.Status.AWAITING_PAYMENT,
    Order.Status.PAYMENT_PENDING,
    Order.Status.PAID,
    Order.Status.REFUNDED,
    Order.Status.DISPUTED,
)


class CouponRefused(Exception):
    """The code cannot be used here; the message is the customer's."""


@dataclass(frozen=True)
class CouponQuote:
    coupon: Coupon
    full_price: Decimal
    discount: Decimal
    currency: str

    @property
    def pay(self) -> Decimal:
        return self.full_price - self.discount


def coupon_normalise(code: str) -> str:
    return "".join((code or "").split()).upper()[:40]


def _uses(coupon: Coupon, **filters) -> int:
    return CouponRedemption.objects.filter(
        coupon=coupon, order__status__in=_COUNTING, **filters
    ).count()


def coupon_quote(
    *,
    code: str,
    plan,
    price: Decimal,
    currency: str,
    kind: str,
    customer=None,
    now=None,
) -> CouponQuote:
    """What `code` takes off `price` (in `currency`) for this purchase; raises CouponRefused."""
    now = now or timezone.now()
    normalised = coupon_normalise(code)
    coupon = Coupon.objects.filter(code=normalised, active=True).first() if normalised else None
    if coupon is None:
        raise CouponRefused("That code is not valid. Check it and try again.")
    if (coupon.valid_from and now < coupon.valid_from) or (
        coupon.valid_until and now >= coupon.valid_until
    ):
        raise CouponRefused("That code is not valid at the moment.")
    if getattr(plan, "auto_renew", False):
        raise CouponRefused("Codes cannot be used on plans that renew automatically.")
    if coupon.plans.exists() and not coupon.plans.filter(pk=plan.pk).exists():
        raise CouponRefused(f"That code is not valid for {plan.name}.")
    renewal = kind == Order.Kind.RENEWAL
    if coupon.applies_to == Coupon.AppliesTo.RENEWALS and not renewal:
        raise CouponRefused("That code is for renewals only.")
    if coupon.applies_to == Coupon.AppliesTo.FIRST:
        bought = customer is not None and customer.orders.filter(status=Order.Status.PAID).exists()
        if renewal or bought:
            raise CouponRefused("That code is for a first purchase only.")
    if coupon.max_uses is not None and _uses(coupon) >= coupon.max_uses:
        raise CouponRefused("That code has been used up.")
    if customer is not None and _uses(coupon, customer=customer) >= coupon.max_uses_per_customer:
        raise CouponRefused("You have already used that code.")
    if coupon.kind == Coupon.Kind.PERCENT:
        discount = (price * coupon.value / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    else:
        if coupon.currency != currency.upper():
            raise CouponRefused(f"That code is for prices in {coupon.currency}.")
        discount = coupon.value
    discount = min(discount, price)
    return CouponQuote(coupon=coupon, full_price=price, discount=discount, currency=currency)


def coupon_redeem(*, code: str, order: Order, kind: str) -> CouponQuote:
    """Apply `code` to a just-created order, in its transaction: lock the coupon, check again
    (limits counted under the lock), lower the order's amount, record the use."""
    normalised = coupon_normalise(code)
    locked = Coupon.objects.select_for_update().filter(code=normalised).first()
    if locked is None:
        raise CouponRefused("That code is not valid. Check it and try again.")
    quote = coupon_quote(
        code=normalised,
        plan=order.plan,
        price=order.amount,
        currency=order.currency,
        kind=kind,
        customer=order.customer,
    )
    CouponRedemption.objects.create(
        coupon=locked,
        order=order,
        customer=order.customer,
        discount=quote.discount,
        full_price=quote.full_price,
    )
    order.amount = quote.pay
    order.save(update_fields=["amount", "updated_at"])
    return quote
