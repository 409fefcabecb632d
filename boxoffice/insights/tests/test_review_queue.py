"""The operator's review queue at /backoffice/review/."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from boxoffice.billing.models import Order, Payment
from boxoffice.provisioning.models import Line, PanelOperation

REVIEW_URL = "/backoffice/review/"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("operator", "op@operator.test", "pw", is_staff=True)


@pytest.fixture
def outsider(db):
    return get_user_model().objects.create_user("someone", "someone@example.test", "pw")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def transfer(make_order):
    """A bank transfer the customer says is on its way."""
    order = make_order(gateway="manual")
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PAYMENT_PENDING, pending_since=timezone.now()
    )
    order.refresh_from_db()
    return order


@pytest.fixture
def flagged_order(make_order):
    order = make_order(gateway="stripe")
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PAYMENT_PENDING,
        needs_review=True,
        review_reason="payment pending for more than 24 h (stripe)",
    )
    order.refresh_from_db()
    return order


@pytest.fixture
def stopped_operation(plan, panel, customer):
    line = Line.objects.create(
        customer=customer, plan=plan, panel=panel, username="stuckline", password="pw12345678ab"
    )
    return PanelOperation.objects.create(
        line=line,
        panel=panel,
        kind=PanelOperation.Kind.CREATE,
        status=PanelOperation.Status.NEEDS_REVIEW,
        attempts=9,
        last_error="panel answered 500 nine times",
    )


def order_url(order: Order) -> str:
    return reverse("backoffice:review_order", args=[order.pk])


def test_it_sends_anonymous_visitors_to_the_admin_login(client, db):
    response = client.get(REVIEW_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_sends_non_staff_users_to_the_admin_login(client, outsider, flagged_order):
    client.force_login(outsider)

    for response in (
        client.get(REVIEW_URL),
        client.post(order_url(flagged_order), {"action": "dismiss"}),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    flagged_order.refresh_from_db()
    assert flagged_order.needs_review


def test_it_shows_staff_what_needs_review(staff_client, flagged_order, transfer, stopped_operation):
    response = staff_client.get(REVIEW_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert flagged_order.reference in page
    assert "payment pending for more than 24 h (stripe)" in page
    assert transfer.reference in page
    assert "stuckline" in page
    assert "panel answered 500 nine times" in page
    assert response.context["orders"].paginator.count == 1
    assert response.context["transfers"].paginator.count == 1
    assert response.context["operations"].paginator.count == 1


def test_it_leaves_out_orders_and_operations_that_need_nothing(staff_client, make_order):
    make_order(gateway="stripe")

    response = staff_client.get(REVIEW_URL)

    assert response.context["orders"].paginator.count == 0
    assert response.context["operations"].paginator.count == 0
    assert "Nothing to review." in response.content.decode()


def confirm_url(order: Order) -> str:
    return reverse("backoffice:confirm_transfer", args=[order.pk])


def statement(order: Order, **overrides) -> dict:
    return {
        "amount": str(order.amount),
        "received_on": timezone.localdate().isoformat(),
        "bank_reference": "STMT-2026-0042",
        **overrides,
    }


def test_it_sends_the_queues_confirm_button_to_the_transfer_page(staff_client, transfer):
    response = staff_client.post(order_url(transfer), {"action": "confirm"})

    assert response.status_code == 302
    assert response["Location"] == confirm_url(transfer)
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAYMENT_PENDING
    assert confirm_url(transfer) in staff_client.get(REVIEW_URL).content.decode()


def test_it_confirms_a_bank_transfer(staff_client, transfer):
    response = staff_client.post(confirm_url(transfer), statement(transfer), follow=True)

    assert response.redirect_chain[-1][0] == REVIEW_URL
    assert "payment confirmed" in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAID
    line = Line.objects.get(order=transfer)
    assert line.status == Line.Status.RESERVED
    op = PanelOperation.objects.get(line=line)
    assert (op.kind, op.status) == (PanelOperation.Kind.CREATE, PanelOperation.Status.PENDING)


def test_it_confirms_a_transfer_only_once(staff_client, transfer):
    staff_client.post(confirm_url(transfer), statement(transfer))
    response = staff_client.post(confirm_url(transfer), statement(transfer))

    assert response.status_code == 409
    assert "is paid: nothing to confirm" in response.content.decode()
    assert Line.objects.filter(order=transfer).count() == 1
    assert PanelOperation.objects.filter(order=transfer).count() == 1
    assert Payment.objects.filter(order=transfer, status="confirmed").count() == 1


def test_it_dismisses_an_order_from_the_queue(staff_client, flagged_order):
    response = staff_client.post(order_url(flagged_order), {"action": "dismiss"})

    assert response.status_code == 302
    flagged_order.refresh_from_db()
    assert not flagged_order.needs_review
    assert flagged_order.status == Order.Status.PAYMENT_PENDING


def test_it_refuses_posts_without_a_csrf_token(staff, transfer, stopped_operation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)

    confirm = client.post(confirm_url(transfer), statement(transfer))
    retry = client.post(reverse("backoffice:review_operation", args=[stopped_operation.pk]))

    assert confirm.status_code == 403
    assert retry.status_code == 403
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAYMENT_PENDING
    stopped_operation.refresh_from_db()
    assert stopped_operation.status == PanelOperation.Status.NEEDS_REVIEW


def test_it_accepts_posts_with_the_pages_csrf_token(staff, transfer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    client.get(confirm_url(transfer))
    token = client.cookies["csrftoken"].value

    response = client.post(
        confirm_url(transfer), {**statement(transfer), "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    transfer.refresh_from_db()
    assert transfer.status == Order.Status.PAID


def test_it_refuses_get_on_the_action_urls(staff_client, transfer):
    assert staff_client.get(order_url(transfer)).status_code == 405


def test_it_sends_a_stopped_operation_back_to_the_queue(
    staff_client, stopped_operation, django_capture_on_commit_callbacks
):
    url = reverse("backoffice:review_operation", args=[stopped_operation.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(url, follow=True)

    assert "sent back to the queue" in response.content.decode()
    stopped_operation.refresh_from_db()
    assert stopped_operation.status == PanelOperation.Status.PENDING
    assert stopped_operation.attempts == 0
    assert len(callbacks) == 1  # the task is enqueued once the change commits


def test_it_says_so_when_an_operation_is_not_waiting(staff_client, stopped_operation):
    PanelOperation.objects.filter(pk=stopped_operation.pk).update(
        status=PanelOperation.Status.SUCCEEDED
    )
    url = reverse("backoffice:review_operation", args=[stopped_operation.pk])

    response = staff_client.post(url, follow=True)

    assert "not waiting for a retry" in response.content.decode()
    stopped_operation.refresh_from_db()
    assert stopped_operation.status == PanelOperation.Status.SUCCEEDED


def test_it_lets_only_staff_send_a_stopped_mail_again(client, outsider, customer):
    from boxoffice.messaging.models import Message

    message = Message.objects.create(
        kind="credentials",
        to_email=customer.email,
        subject="Your login is ready",
        body_text="…",
        status=Message.Status.NEEDS_REVIEW,
    )
    client.force_login(outsider)

    response = client.post(reverse("backoffice:review_message", args=[message.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    message.refresh_from_db()
    assert message.status == Message.Status.NEEDS_REVIEW
