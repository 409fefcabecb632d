"""A confirmed payment always ends in a line or in the review queue: name clashes are retries,
processing errors are retried and then reviewed with one alert, paid orders are found by state."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from boxoffice.billing.gateways.base import VerifiedEvent
from boxoffice.billing.models import Order, WebhookEvent
from boxoffice.billing.services import orders_provision_paid
from boxoffice.billing.tasks import process_webhook_event
from boxoffice.billing.webhooks import (
    webhook_event_process,
    webhook_event_store,
    webhook_events_redrive,
)
from boxoffice.customers.models import Customer
from boxoffice.messaging.models import Message
from boxoffice.panels.adapters.base import LineSpec
from boxoffice.provisioning.models import Line, PanelOperation


def _completed_event(order, *, event_id: str, **obj) -> VerifiedEvent:
    session = {
        "id": order.gateway_reference or f"cs_{order.reference}",
        "object": "checkout.session",
        "client_reference_id": order.reference,
        "payment_status": "paid",
        "payment_intent": f"pi_{order.reference}",
        "amount_total": int(order.amount * 100),
        "currency": order.currency.lower(),
        **obj,
    }
    payload = {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": session},
    }
    return VerifiedEvent(event_id, payload["type"], payload)


def _stripe_order(make_order, **kwargs) -> Order:
    order = make_order(gateway="stripe", **kwargs)
    Order.objects.filter(pk=order.pk).update(gateway_reference=f"cs_{order.reference}")
    order.refresh_from_db()
    return order


def _alerts() -> list[Message]:
    return list(Message.objects.filter(kind="operator_alert"))


@pytest.mark.django_db(transaction=True)
def test_it_reserves_the_next_free_name_when_a_concurrent_reservation_took_it(
    make_order, run_tasks, xui_emulator, smtp_inbox, monkeypatch
):
    from boxoffice.provisioning import reservation as provisioning

    first = _stripe_order(make_order, preferred_username="clash8tv")
    second = _stripe_order(make_order, preferred_username="clash8tv")
    process_webhook_event.call(
        webhook_event_store(gateway="stripe", event=_completed_event(first, event_id="evt_a"))[0].pk
    )
    # The second reservation read the names before the first one committed: it picks the same.
    allocate = provisioning.username_allocate
    stale = iter([("clash8tv", False)])
    monkeypatch.setattr(
        provisioning,
        "username_allocate",
        lambda **kw: next(stale, None) or allocate(**kw),
    )
    stored, _ = webhook_event_store(
        gateway="stripe", event=_completed_event(second, event_id="evt_b")
    )

    assert process_webhook_event.call(stored.pk) == "confirmed"

    stored.refresh_from_db()
    assert stored.status == WebhookEvent.Status.PROCESSED
    names = sorted(Line.objects.values_list("username", flat=True))
    assert names == ["clash8tv", "clash8tv1"]
    assert sorted(r["username"] for r in xui_emulator.lines()) == names
    assert len(smtp_inbox.wait_for(2)) == 2


@pytest.mark.django_db(transaction=True)
def test_it_finishes_an_operation_whose_next_name_a_concurrent_line_took(
    make_order, panel, xui_emulator, smtp_inbox, monkeypatch
):
    from boxoffice.provisioning import creation as provisioning
    from boxoffice.provisioning.engine import operation_execute

    panel.adapter().create_line(
        LineSpec(username="busyname", password="Other123", max_connections=1, expires_at=None)
    )
    order = _stripe_order(make_order, preferred_username="busyname")
    other = _stripe_order(make_order)
    # Between our check and our write, another reservation takes "busyname1".
    check = provisioning.next_suffix_name

    def racing_next(*, base, current):
        name = check(base=base, current=current)
        if name == "busyname1" and not Line.objects.filter(username=name).exists():
            Line.objects.filter(order=other).update(username=name)
        return name

    monkeypatch.setattr(provisioning, "next_suffix_name", racing_next)
    from boxoffice.billing.services import order_mark_paid

    order_mark_paid(order=other)
    order_mark_paid(order=order)
    op = PanelOperation.objects.get(order=order)

    assert operation_execute(operation_id=op.pk) == "succeeded"

    op.refresh_from_db()
    assert op.status == PanelOperation.Status.SUCCEEDED
    assert Line.objects.get(order=order).username == "busyname2"


@pytest.mark.django_db(transaction=True)
def test_it_retries_a_webhook_whose_processing_raised_and_provisions_it(
    make_order, xui_emulator, smtp_inbox, monkeypatch, run_tasks
):
    from boxoffice.billing import services as provisioning

    order = _stripe_order(make_order)
    reserve = provisioning.line_reserve_for_order
    failures = iter([RuntimeError("database hiccup")])

    def flaky(**kw):
        exc = next(failures, None)
        if exc:
            raise exc
        return reserve(**kw)

    monkeypatch.setattr(provisioning, "line_reserve_for_order", flaky)
    stored, _ = webhook_event_store(
        gateway="stripe", event=_completed_event(order, event_id="evt_1")
    )
    run_tasks()  # the first attempt raises: recorded, not lost, and the task itself does not fail

    stored.refresh_from_db()
    order.refresh_from_db()
    assert stored.status == WebhookEvent.Status.RECEIVED
    assert stored.attempts == 1 and "database hiccup" in stored.error
    assert stored.next_attempt_at > timezone.now()
    assert order.status == Order.Status.AWAITING_PAYMENT  # rolled back whole
    assert webhook_events_redrive() == 0  # not due yet

    with time_machine.travel(stored.next_attempt_at + timedelta(seconds=1)):
        assert webhook_events_redrive() == 1
        run_tasks()

    stored.refresh_from_db()
    order.refresh_from_db()
    assert stored.status == WebhookEvent.Status.PROCESSED
    assert order.status == Order.Status.PAID
    assert Line.objects.get(order=order).status == Line.Status.ACTIVE
    assert len(smtp_inbox.wait_for(1)) == 1
    assert _alerts() == []


@pytest.mark.django_db(transaction=True)
def test_it_puts_a_webhook_that_keeps_raising_in_review_with_one_alert(
    make_order, smtp_inbox, monkeypatch, settings
):
    from boxoffice.billing import services as provisioning

    settings.PROVISIONING = {**settings.PROVISIONING, "MAX_ATTEMPTS": 3}
    order = _stripe_order(make_order)

    def broken(**kw):
        raise RuntimeError("always broken")

    monkeypatch.setattr(provisioning, "line_reserve_for_order", broken)
    stored, _ = webhook_event_store(
        gateway="stripe", event=_completed_event(order, event_id="evt_1")
    )

    results = []
    for _ in range(5):
        with time_machine.travel(timezone.now() + timedelta(hours=1)):
            webhook_events_redrive()
            results.append(webhook_event_process(event_pk=stored.pk))

    assert results == ["retry", "retry", "needs_review", "already_processed", "already_processed"]
    stored.refresh_from_db()
    order.refresh_from_db()
    assert stored.status == WebhookEvent.Status.NEEDS_REVIEW and stored.attempts == 3
    assert order.needs_review and "always broken" in order.review_reason
    [alert] = smtp_inbox.wait_for(1)
    assert order.reference in alert["Subject"]
    assert len(_alerts()) == 1


@pytest.mark.django_db(transaction=True)
def test_it_provisions_a_paid_order_without_a_line_found_by_its_state(
    make_order, xui_emulator, smtp_inbox, run_tasks
):
    order = _stripe_order(make_order)
    # A crash (or a lost event) left it paid with no line and no operation.
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PAID, paid_at=timezone.now() - timedelta(minutes=5)
    )
    in_review = _stripe_order(make_order)
    Order.objects.filter(pk=in_review.pk).update(
        status=Order.Status.PAID, paid_at=timezone.now() - timedelta(minutes=5), needs_review=True
    )

    assert orders_provision_paid() == 1
    run_tasks()

    assert Line.objects.get(order=order).status == Line.Status.ACTIVE
    assert not Line.objects.filter(order=in_review).exists()
    assert len(smtp_inbox.wait_for(1)) == 1
    assert orders_provision_paid() == 0


@pytest.mark.django_db(transaction=True)
def test_it_alerts_once_when_no_panel_can_take_a_paid_order(make_order, panel, smtp_inbox):
    panel.enabled = False
    panel.save()
    order = _stripe_order(make_order)
    stored, _ = webhook_event_store(
        gateway="stripe", event=_completed_event(order, event_id="evt_1")
    )
    webhook_event_process(event_pk=stored.pk)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        orders_provision_paid()  # already in review: not tried again, not alerted again

    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.needs_review
    assert "no enabled panel" in order.review_reason
    [alert] = smtp_inbox.wait_for(1)
    assert order.reference in alert["Subject"]
    time.sleep(0.2)
    assert len(smtp_inbox.messages()) == 1


@pytest.mark.django_db(transaction=True)
def test_it_alerts_once_on_an_amount_mismatch(make_order, smtp_inbox):
    order = _stripe_order(make_order)
    for n in (1, 2):
        stored, _ = webhook_event_store(
            gateway="stripe",
            event=_completed_event(order, event_id=f"evt_{n}", amount_total=100),
        )
        assert webhook_event_process(event_pk=stored.pk) == "amount_mismatch"

    order.refresh_from_db()
    assert order.needs_review and order.status == Order.Status.AWAITING_PAYMENT
    [alert] = smtp_inbox.wait_for(1)
    assert "1.00 EUR" in alert.get_body(preferencelist=("plain",)).get_content()
    time.sleep(0.2)
    assert len(smtp_inbox.messages()) == 1


CONCURRENT_ORDERS = 200
PREFERRED_NAMES = [f"clash{n}tv" for n in range(10)]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers: concurrent reservations cannot race there",
)
@pytest.mark.django_db(transaction=True)
def test_it_gives_200_concurrent_paid_orders_over_10_names_200_lines(
    plan, panel, xui_emulator, smtp_inbox
):
    from boxoffice.billing.services import order_create

    panel.max_concurrency = 8
    panel.timeout_seconds = 5.0  # a loaded loopback emulator, not a slow panel, is under test
    panel.save()
    adapter = panel.adapter()
    for taken in ("clash0tv", "clash0tv1", "clash3tv", "clash7tv2"):  # someone else's lines
        adapter.create_line(
            LineSpec(username=taken, password="Other123", max_connections=1, expires_at=None)
        )
    events = []
    for n in range(CONCURRENT_ORDERS):
        customer = Customer.objects.create(email=f"buyer{n}@example.test", name=f"Buyer {n}")
        order = order_create(
            customer=customer,
            plan=plan,
            gateway="stripe",
            preferred_username=PREFERRED_NAMES[n % len(PREFERRED_NAMES)],
        )
        Order.objects.filter(pk=order.pk).update(gateway_reference=f"cs_{order.reference}")
        order.refresh_from_db()
        stored, _ = webhook_event_store(
            gateway="stripe", event=_completed_event(order, event_id=f"evt_{n}")
        )
        events.append(stored.pk)
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def work(pks: list[int]) -> None:
        try:
            start.wait()
            for pk in pks:
                process_webhook_event.call(pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    began = time.monotonic()
    threads = [threading.Thread(target=work, args=(events[i::20],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.monotonic() - began

    assert errors == []
    assert not WebhookEvent.objects.exclude(status=WebhookEvent.Status.PROCESSED).exists()
    assert Order.objects.filter(status=Order.Status.PAID, needs_review=False).count() == 200
    stuck = [
        (op.line.username, op.status, op.last_error)
        for op in PanelOperation.objects.exclude(status=PanelOperation.Status.SUCCEEDED)
    ]
    assert stuck == []
    lines = Line.objects.filter(status=Line.Status.ACTIVE)
    names = list(lines.values_list("username", flat=True))
    assert len(names) == 200 and len({n.lower() for n in names}) == 200
    on_panel = [r["username"] for r in xui_emulator.lines()]
    assert len(on_panel) == 204 and len(set(on_panel)) == 204
    assert len(smtp_inbox.wait_for(200, timeout=30)) == 200
    assert sum(Decimal(o.amount) for o in Order.objects.all()) == plan.price * 200
    print(f"200 concurrent paid orders provisioned in {elapsed:.1f} s")


@pytest.mark.django_db(transaction=True)
def test_it_lets_the_operator_retry_a_webhook_that_stopped(
    make_order, xui_emulator, smtp_inbox, run_tasks, admin_client
):
    order = _stripe_order(make_order)
    stored, _ = webhook_event_store(
        gateway="stripe", event=_completed_event(order, event_id="evt_1")
    )
    WebhookEvent.objects.filter(pk=stored.pk).update(
        status=WebhookEvent.Status.NEEDS_REVIEW, attempts=12, error="RuntimeError: was broken"
    )
    run_tasks()  # the queued task finds the event stopped: nothing happens

    response = admin_client.post(
        "/admin/billing/webhookevent/",
        {"action": "retry_processing", "_selected_action": [stored.pk]},
    )
    assert response.status_code == 302
    run_tasks()

    stored.refresh_from_db()
    assert stored.status == WebhookEvent.Status.PROCESSED
    assert Line.objects.get(order=order).status == Line.Status.ACTIVE
