"""The operator's renewals page at /backoffice/renewals/: lines expiring this week or at risk,
with counts, how each renews, its last payment, its failures and the lifecycle's next step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from boxoffice.billing.models import Order, Payment
from boxoffice.customers.models import Customer
from boxoffice.provisioning.lifecycle import OVERDUE, line_next_step
from boxoffice.provisioning.models import Line

pytestmark = pytest.mark.django_db
URL = "/backoffice/renewals/"


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("operator", "op@operator.test", "pw", is_staff=True)
    client.force_login(user)
    return client


def _line(plan, username, days, **fields) -> Line:
    customer = Customer.objects.create(email=f"{username}@example.test")
    values = {
        "status": Line.Status.ACTIVE,
        "panel_line_id": username,
        "expires_at": timezone.now().replace(microsecond=0) + timedelta(days=days),
    }
    values.update(fields)
    return Line.objects.create(
        customer=customer,
        plan=plan,
        panel=plan.panel_mappings.get().panel,
        username=username,
        **values,
    )


def _paid(line, *, kind=Order.Kind.NEW, amount="9.99", failed=0, days_ago=1) -> Order:
    order = Order.objects.create(
        customer=line.customer,
        plan=line.plan,
        kind=kind,
        amount=Decimal(amount),
        currency="EUR",
        gateway="manual",
        status=Order.Status.PAID,
        paid_at=timezone.now() - timedelta(days=days_ago),
        target_line=line if kind == Order.Kind.RENEWAL else None,
    )
    if kind == Order.Kind.NEW:
        Line.objects.filter(pk=line.pk).update(order=order)
    when = timezone.now() - timedelta(days=days_ago)
    Payment.objects.create(
        order=order,
        gateway="manual",
        status=Payment.Status.CONFIRMED,
        amount=order.amount,
        currency="EUR",
        created_at=when,
    )
    for n in range(failed):
        Payment.objects.create(
            order=order,
            gateway="manual",
            status=Payment.Status.FAILED,
            amount=order.amount,
            currency="EUR",
            created_at=when + timedelta(minutes=n + 1),
        )
    return order


def test_the_page_lists_lines_expiring_or_at_risk_this_week_with_counts(staff_client, plan):
    soon = _line(plan, "soontv", 2)
    _paid(soon)
    _paid(soon, kind=Order.Kind.RENEWAL, amount="9.99", failed=2, days_ago=0)
    _line(plan, "latertv", 20)  # not this week
    _line(plan, "gracetv", -1, stage=Line.Stage.GRACE)
    _line(plan, "susptv", -5, status=Line.Status.SUSPENDED, suspension_reason=OVERDUE)
    _line(plan, "disputetv", -5, status=Line.Status.SUSPENDED, suspension_reason="dispute")
    _line(plan, "trialtv", 1, is_trial=True)

    page = staff_client.get(URL)

    body = page.content.decode()
    assert page.status_code == 200
    for name in ("soontv", "gracetv", "susptv"):
        assert f'data-line="{name}"' in body
    for name in ("latertv", "disputetv", "trialtv"):
        assert f'data-line="{name}"' not in body
    assert page.context["counts"] == {
        "expiring": 1,
        "grace": 1,
        "suspended": 1,
        "renewed": 1,
        "failed_payments": 2,
    }
    soon_entry = next(e for e in page.context["entries"] if e["line"].username == "soontv")
    assert soon_entry["billing"].failures == 2  # failed twice after its last confirmed payment
    assert soon_entry["billing"].last_amount == Decimal("9.99")
    assert soon_entry["billing"].mode == "one-time payments"


def test_each_tab_shows_its_own_lines(staff_client, plan):
    _line(plan, "soontv", 2)
    _line(plan, "susptv", -5, status=Line.Status.SUSPENDED, suspension_reason=OVERDUE)

    suspended = staff_client.get(URL, {"show": "suspended"}).content.decode()
    expiring = staff_client.get(URL, {"show": "expiring"}).content.decode()
    odd = staff_client.get(URL, {"show": "<script>"})

    assert 'data-line="susptv"' in suspended and 'data-line="soontv"' not in suspended
    assert 'data-line="soontv"' in expiring and 'data-line="susptv"' not in expiring
    assert odd.status_code == 200 and "<script>" not in odd.content.decode()


def test_the_next_step_follows_the_plan_settings(plan):
    plan.reminder_days, plan.grace_days, plan.terminate_after_days = [7, 3, 0], 3, 30
    plan.save()
    now = timezone.now().replace(microsecond=0)
    soon = _line(plan, "soontv", 5)
    expired = _line(plan, "gracetv", -1)
    suspended = _line(plan, "susptv", -4, status=Line.Status.SUSPENDED, suspension_reason=OVERDUE)

    when, what = line_next_step(soon, now)
    assert what == "reminder (3 days before expiry)"
    day = timezone.localdate(soon.expires_at) - timedelta(days=3)  # sent from that day's start
    assert (timezone.localdate(when), when.hour, when.minute) == (day, 0, 0)
    assert line_next_step(expired, now) == (
        expired.expires_at + timedelta(days=3),
        "suspension for non-payment",
    )
    assert line_next_step(suspended, now) == (
        suspended.expires_at + timedelta(days=30),
        "termination",
    )


def test_customers_and_strangers_do_not_see_the_page(client, db):
    outsider = get_user_model().objects.create_user("someone", "s@example.test", "pw")
    assert client.get(URL).status_code == 302  # to the admin sign-in
    client.force_login(outsider)
    assert client.get(URL).status_code == 302
