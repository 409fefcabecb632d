"""The renewal checkout: opened by a line's pay link (reminder mails) or the portal's Renew
button, prefilled, paid by any enabled gateway; the link opens that one line's checkout only."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import signing
from django.utils import timezone

from boxoffice.billing.models import Order
from boxoffice.billing.services import order_confirm_bank_transfer
from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_portal_user
from boxoffice.provisioning.lifecycle import renewal_pay_token
from boxoffice.provisioning.models import Line, PanelOperation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def gateways(settings):
    settings.PAYMENT_GATEWAYS = ["manual"]


def _line(plan, customer, username, **kwargs) -> Line:
    fields = {
        "status": Line.Status.ACTIVE,
        "password": f"{username}-Secret-pw",
        "expires_at": timezone.now().replace(microsecond=0) + timedelta(days=5),
        "panel_line_id": "17",
    }
    fields.update(kwargs)
    return Line.objects.create(
        customer=customer,
        plan=plan,
        panel=plan.panel_mappings.get().panel,
        username=username,
        **fields,
    )


@pytest.fixture
def line_a(plan, customer):
    return _line(plan, customer, "alicetv")


@pytest.fixture
def line_b(plan):
    other = Customer.objects.create(email="bob@example.test", name="Bob")
    return _line(plan, other, "bobtv", panel_line_id="18")


def test_the_pay_link_opens_the_prefilled_renewal_of_its_line_and_signs_nobody_in(client, line_a):
    page = client.get(f"/renew/{renewal_pay_token(line_a)}/")

    body = page.content.decode()
    assert page.status_code == 200
    assert "alicetv" in body and "Monthly" in body and "9.99" in body
    assert "Secret-pw" not in body  # never the line's password
    assert "_auth_user_id" not in client.session  # never a sign-in


def test_paying_a_renewal_by_bank_transfer_extends_the_line_once_the_operator_confirms(
    client, line_a
):
    response = client.post(f"/renew/{renewal_pay_token(line_a)}/", {"gateway": "manual"})

    order = Order.objects.get()
    assert response.status_code == 303
    assert order.kind == Order.Kind.RENEWAL and order.target_line == line_a
    assert order.customer == line_a.customer and order.amount == Decimal("9.99")
    assert order.status == Order.Status.PAYMENT_PENDING
    assert not PanelOperation.objects.exists()

    order_confirm_bank_transfer(
        order=order,
        amount=Decimal("9.99"),
        received_on=timezone.localdate(),
        bank_reference="TRX-1",
        actor="ops",
    )

    [op] = PanelOperation.objects.all()
    assert op.kind == "extend" and op.order == order and op.line == line_a
    assert op.params["expires_at"] == (line_a.expires_at + timedelta(days=30)).isoformat()
    assert Line.objects.count() == 1  # no new line for a renewal
    assert not Line.objects.filter(order=order).exists()
    line_a.refresh_from_db()
    # The line's expiry changes only once the panel has confirmed (no panel call here).
    assert line_a.expires_at == op.line.expires_at


def test_two_renewals_paid_before_the_panel_confirms_add_two_periods(client, line_a):
    for ref in ("TRX-1", "TRX-2"):
        client.post(f"/renew/{renewal_pay_token(line_a)}/", {"gateway": "manual"})
        order = Order.objects.filter(kind="renewal").order_by("-pk").first()
        order_confirm_bank_transfer(
            order=order,
            amount=order.amount,
            received_on=timezone.localdate(),
            bank_reference=ref,
            actor="ops",
        )
    dates = sorted(op.params["expires_at"] for op in PanelOperation.objects.all())
    assert dates == [
        (line_a.expires_at + timedelta(days=30)).isoformat(),
        (line_a.expires_at + timedelta(days=60)).isoformat(),
    ]


def _retarget(token: str, pk: int) -> str:
    """A's token with its payload rewritten to name another line (the signature kept)."""
    _, sig_rest = token.split(":", 1)
    payload = base64.urlsafe_b64encode(json.dumps({"line": pk}).encode()).decode().rstrip("=")
    return f"{payload}:{sig_rest}"


@pytest.mark.parametrize("how", ["retargeted", "forged", "garbage", "expired", "other_salt"])
def test_a_pay_link_opens_no_other_line_and_a_bad_one_is_refused_without_an_error(
    client, line_a, line_b, how
):
    token = renewal_pay_token(line_a)
    if how == "retargeted":
        token = _retarget(token, line_b.pk)
    elif how == "forged":
        token = signing.dumps({"line": line_b.pk}, salt="boxoffice.renewal-pay-link", key="x" * 50)
    elif how == "garbage":
        token = "not-a-token"
    elif how == "other_salt":  # e.g. a token of another purpose
        token = signing.dumps({"line": line_b.pk})
    with time_machine.travel(timezone.now() + timedelta(days=31 if how == "expired" else 0)):
        page = client.get(f"/renew/{token}/")
        posted = client.post(f"/renew/{token}/", {"gateway": "manual"})

    assert page.status_code == 400 and posted.status_code == 400
    assert "bobtv" not in page.content.decode() and "alicetv" not in page.content.decode()
    assert not Order.objects.exists()


def test_a_pay_link_pays_only_for_its_own_line(client, line_a, line_b):
    client.post(f"/renew/{renewal_pay_token(line_a)}/", {"gateway": "manual"})

    order = Order.objects.get()
    assert order.target_line == line_a and order.customer == line_a.customer


def test_an_unknown_gateway_is_refused_on_the_page(client, line_a):
    page = client.post(f"/renew/{renewal_pay_token(line_a)}/", {"gateway": "nope"})

    assert page.status_code == 400 and b"Choose how you want to pay" in page.content
    assert not Order.objects.exists()


def test_a_terminated_line_is_not_offered_for_renewal(client, line_a):
    Line.objects.filter(pk=line_a.pk).update(status=Line.Status.CANCELLED, stage="terminated")

    page = client.get(f"/renew/{renewal_pay_token(line_a)}/")
    posted = client.post(f"/renew/{renewal_pay_token(line_a)}/", {"gateway": "manual"})

    assert b"can no longer be renewed" in page.content
    assert posted.status_code == 400 and not Order.objects.exists()


# --- the portal's Renew button and the checkout's offer -------------------------------------


def _signed_in(client, customer):
    user = customer_portal_user(customer=customer)
    client.force_login(user)


def test_the_portal_offers_renew_early_and_opens_the_renewal_checkout(client, line_a, line_b):
    _signed_in(client, line_a.customer)

    overview = client.get("/portal/").content.decode()
    assert f'href="/portal/lines/{line_a.pk}/renew/"' in overview and "Renew early" in overview
    go = client.get(f"/portal/lines/{line_a.pk}/renew/")
    assert go.status_code == 302 and go["Location"].startswith("/renew/")
    assert client.get(go["Location"]).status_code == 200
    # Another customer's line is not reachable through the portal.
    assert client.get(f"/portal/lines/{line_b.pk}/renew/").status_code == 404


def test_a_signed_in_customer_is_offered_to_renew_instead_of_a_second_line(client, line_a, plan):
    _signed_in(client, line_a.customer)

    page = client.get(f"/checkout/{plan.slug}/").content.decode()

    assert "Renew alicetv" in page and "/renew/" in page


def test_nobody_signed_out_is_shown_another_customers_line_at_checkout(client, line_a, plan):
    page = client.get(f"/checkout/{plan.slug}/").content.decode()

    assert "alicetv" not in page


def test_the_portal_shows_the_stage_and_offers_renew_once_expired(client, line_a):
    Line.objects.filter(pk=line_a.pk).update(
        status=Line.Status.EXPIRED,
        stage=Line.Stage.GRACE,
        expires_at=timezone.now() - timedelta(days=1),
    )
    _signed_in(client, line_a.customer)

    overview = client.get("/portal/").content.decode()

    assert "Grace period" in overview
    assert f'href="/portal/lines/{line_a.pk}/renew/">Renew</a>' in overview


def test_a_known_address_at_checkout_is_told_to_sign_in_to_renew(client, line_a, plan):
    page = client.post(
        f"/checkout/{plan.slug}/",
        {"email": line_a.customer.email, "name": "Jane", "country": "DE", "gateway": "manual"},
    ).content.decode()

    assert "renew the line you already have" in page
    assert "alicetv" not in page  # nothing about the account before signing in
    assert not Order.objects.exists()


def test_a_line_suspended_for_a_dispute_is_not_offered_for_renewal(client, line_a):
    Line.objects.filter(pk=line_a.pk).update(
        status=Line.Status.SUSPENDED, suspension_reason="payment disputed", stage="suspended"
    )
    _signed_in(client, line_a.customer)

    overview = client.get("/portal/").content.decode()
    posted = client.post(f"/renew/{renewal_pay_token(line_a)}/", {"gateway": "manual"})

    assert f"/portal/lines/{line_a.pk}/renew/" not in overview
    assert client.get(f"/portal/lines/{line_a.pk}/renew/").status_code == 404
    assert posted.status_code == 400 and not Order.objects.exists()
