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
- A use counts unless its order was cancelled: a failed or expired order can still be paid
  (the status page's "pay again"), so it keeps its use. "Per customer" and "first purchase"
  count the mailbox (`trial_email_identity`), not the spelling of the address.
- The discount is taken off the list price; where prices exclude tax the tax is added after
  (`price_with_tax`), so the preview's figures are the charged ones, before tax.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from boxoffice.billing.invoicing import price_with_tax
from boxoffice.billing.models import Coupon, CouponRedemption, Order, coupon_code_normalise
from boxoffice.billing.trials import trial_email_identity

CENT = Decimal("0.01")


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


coupon_normalise = coupon_code_normalise


def _uses(coupon: Coupon | None = None, **filters) -> int:
    uses = CouponRedemption.objects.exclude(order__status=Order.Status.CANCELLED)
    if coupon is not None:
        uses = uses.filter(coupon=coupon)
    return uses.filter(**filters).count()


def coupon_quote(
    *,
    code: str,
    plan,
    price: Decimal,
    currency: str,
    kind: str,
    customer=None,
    email: str = "",
    now=None,
) -> CouponQuote:
    """What `code` takes off `price` (in `currency`) for this purchase; raises CouponRefused.
    `customer` or, for a new one, the `email` typed: whose uses count."""
    now = now or timezone.now()
    identity = trial_email_identity(customer.email if customer is not None else email)
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
        bought = (
            customer is not None
            and customer.orders.filter(status=Order.Status.PAID, amount__gt=0).exists()
        )
        # The same mailbox under another spelling already had a first-purchase discount.
        welcomed = bool(identity) and _uses(
            identity=identity, coupon__applies_to=Coupon.AppliesTo.FIRST
        )
        if renewal or bought or welcomed:
            raise CouponRefused("That code is for a first purchase only.")
    if coupon.max_uses is not None and _uses(coupon) >= coupon.max_uses:
        raise CouponRefused("That code has been used up.")
    if identity and _uses(coupon, identity=identity) >= coupon.max_uses_per_customer:
        raise CouponRefused("You have already used that code.")
    if coupon.kind == Coupon.Kind.PERCENT:
        discount = (price * coupon.value / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    else:
        if coupon.currency != currency.upper():
            raise CouponRefused(f"That code is for prices in {coupon.currency}.")
        discount = coupon.value
    discount = min(discount, price)
    return CouponQuote(coupon=coupon, full_price=price, discount=discount, currency=currency)


def coupon_redeem(*, code: str, order: Order, kind: str, price: Decimal) -> CouponQuote:
    """Apply `code` to a just-created order, in its transaction: lock the coupon, check again
    (limits counted under the lock), set the order's amount to the list `price` less the
    discount (plus tax where prices exclude it), record the use."""
    normalised = coupon_normalise(code)
    locked = Coupon.objects.select_for_update().filter(code=normalised).first()
    if locked is None:
        raise CouponRefused("That code is not valid. Check it and try again.")
    quote = coupon_quote(
        code=normalised,
        plan=order.plan,
        price=price,
        currency=order.currency,
        kind=kind,
        customer=order.customer,
    )
    CouponRedemption.objects.create(
        coupon=locked,
        order=order,
        customer=order.customer,
        identity=trial_email_identity(order.customer.email),
        discount=quote.discount,
        full_price=order.amount,  # what the order cost before the code (with any tax)
    )
    order.amount = price_with_tax(quote.pay, order.country)
    order.save(update_fields=["amount", "updated_at"])
    return quote
