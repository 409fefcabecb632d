"""Three months of one-time-payment customers, day by day, against the XUI One emulator over HTTP
with mail on loopback: renewing on time, renewing late in the grace period, paying while
suspended, and letting the line lapse to termination. The panel's expiry and enabled flag are
read from the emulator at every step, and the mails are counted by kind."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import stripe
import time_machine

from boxoffice.audit.models import AuditEvent
from boxoffice.billing.models import Order
from boxoffice.billing.services import order_create, order_mark_paid
from boxoffice.messaging.emails import format_expiry
from boxoffice.messaging.models import Message
from boxoffice.panels.adapters.registry import registered_kind
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter
from boxoffice.provisioning.lifecycle import OVERDUE, lines_lifecycle_run
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.reconcile import lines_mark_expired

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Life:
    """One customer's line, a clock and the worker's passes, for a test to walk through."""

    def __init__(self, clock, make_order, run_tasks, emulator):
        self.clock, self.make_order, self.run_tasks, self.emulator = (
            clock,
            make_order,
            run_tasks,
            emulator,
        )
        self.payments = 0
        order = make_order()
        assert order_mark_paid(order=order, gateway_payment_id="pay_first")
        run_tasks()
        self.line = Line.objects.get(order=order)

    def day(self, n: int) -> None:
        """Day n of the customer's life, 09:00 (the line was bought on day 0 at 12:00): the
        scheduler's passes, then whatever they queued runs."""
        self.clock.move_to(T0 + n * DAY - timedelta(hours=3))
        lines_mark_expired()
        lines_lifecycle_run()
        self.run_tasks()
        self.line.refresh_from_db()

    def pay_renewal(self) -> Order:
        self.payments += 1
        order = order_create(
            customer=self.line.customer,
            plan=self.line.plan,
            gateway="manual",
            kind=Order.Kind.RENEWAL,
            target_line=self.line,
        )
        assert order_mark_paid(order=order, gateway_payment_id=f"pay_renew_{self.payments}")
        self.run_tasks()
        self.line.refresh_from_db()
        return order

    def row(self) -> dict | None:
        rows = [r for r in self.emulator.lines() if str(r["id"]) == self.line.panel_line_id]
        return rows[0] if rows else None

    def panel_expiry(self) -> datetime:
        return datetime.fromtimestamp(int(self.row()["exp_date"]), tz=UTC)

    def panel_enabled(self) -> bool:
        return str(self.row()["enabled"]) == "1"


def _mails() -> Counter:
    return Counter(Message.objects.exclude(kind="operator_alert").values_list("kind", flat=True))


def _stages(line: Line) -> list[str]:
    rows = AuditEvent.objects.filter(action="line.stage", subject_id=str(line.pk)).order_by("pk")
    return [row.data["to"] for row in rows]


def test_a_customer_who_renews_on_time_keeps_every_paid_day(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Life(clock, make_order, run_tasks, xui_emulator)
        assert life.panel_expiry() == T0 + 30 * DAY
        for n in range(1, 90):
            life.day(n)
            assert life.panel_enabled(), f"day {n}"
            if n in (27, 53):  # after the 3-day reminder, then right at the 7-day one
                life.pay_renewal()
                assert life.line.stage == Line.Stage.ACTIVE
            if n == 27:
                assert life.panel_expiry() == T0 + 60 * DAY
                assert life.line.expires_at == T0 + 60 * DAY
        assert life.panel_expiry() == T0 + 90 * DAY
        assert life.line.expires_at == T0 + 90 * DAY
        assert life.line.status == Line.Status.ACTIVE
    # Reminders: 7 and 3 days before the first expiry, 7 before the second, 7 and 3 before
    # the third; each payment one confirmation.
    assert _mails() == Counter(credentials=1, renewal_reminder=5, line_renewed=2)
    assert len(smtp_inbox.wait_for(8)) == 8
    assert _stages(life.line) == ["reminded", "active"] * 2 + ["reminded"]


def test_a_customer_who_pays_late_in_the_grace_period_gets_the_period_from_the_payment(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Life(clock, make_order, run_tasks, xui_emulator)
        for n in range(1, 90):
            life.day(n)
            assert life.panel_enabled(), f"day {n}"  # never suspended
            if n == 31:
                assert life.line.stage == Line.Stage.GRACE
                assert life.line.status == Line.Status.EXPIRED
            if n == 32:  # a day and 21 hours late: inside the 3-day grace
                life.pay_renewal()
                paid_at = T0 + 32 * DAY - timedelta(hours=3)
                assert life.panel_expiry() == paid_at + 30 * DAY
                assert life.line.status == Line.Status.ACTIVE
                assert life.line.stage == Line.Stage.ACTIVE
            if n == 59:  # on time for the second renewal (the 3-day reminder came)
                life.pay_renewal()
        assert life.panel_expiry() == paid_at + 60 * DAY
        assert life.line.expires_at == paid_at + 60 * DAY
    # 7, 3 and 0 days before the first expiry; 7 and 3 before the second; 7 and 3 (day 85
    # and day 89) before the third, on day 92.
    assert _mails() == Counter(credentials=1, renewal_reminder=7, line_renewed=2)
    assert not PanelOperation.objects.filter(kind=PanelOperation.Kind.SUSPEND).exists()
    assert _stages(life.line)[:3] == ["reminded", "grace", "active"]


def test_a_customer_who_pays_while_suspended_is_resumed_at_once(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Life(clock, make_order, run_tasks, xui_emulator)
        for n in range(1, 34):
            life.day(n)
            assert life.panel_enabled()
        life.day(34)  # past expiry + 3 days of grace: suspended on the panel
        assert not life.panel_enabled()
        assert life.line.status == Line.Status.SUSPENDED
        assert life.line.suspension_reason == OVERDUE
        life.pay_renewal()
        paid_at = T0 + 34 * DAY - timedelta(hours=3)
        assert life.panel_enabled()
        assert life.panel_expiry() == paid_at + 30 * DAY
        assert life.line.status == Line.Status.ACTIVE
        assert life.line.stage == Line.Stage.ACTIVE
        assert life.line.suspension_reason == ""
    assert _mails() == Counter(credentials=1, renewal_reminder=3, line_suspended=1, line_renewed=1)
    suspended = Message.objects.get(kind="line_suspended")
    assert "/renew/" in suspended.body_text and "has not been paid" in suspended.body_text
    assert _stages(life.line) == ["reminded", "grace", "suspended", "active"]


def test_a_customer_who_lets_the_line_lapse_is_suspended_then_terminated_then_invited_back(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Life(clock, make_order, run_tasks, xui_emulator)
        for n in range(1, 90):
            life.day(n)
            if n < 34:
                assert life.panel_enabled(), f"day {n}"
                assert life.panel_expiry() == T0 + 30 * DAY
            elif n < 61:  # suspended from expiry + grace (3 days) ...
                assert not life.panel_enabled(), f"day {n}"
                assert life.panel_expiry() == T0 + 30 * DAY
                assert life.line.stage == Line.Stage.SUSPENDED
            else:  # ... terminated 30 days after expiry: gone from the panel
                assert life.row() is None, f"day {n}"
                assert life.line.stage == Line.Stage.TERMINATED
                assert life.line.status == Line.Status.CANCELLED
        assert Message.objects.get(kind="winback").created_at == T0 + 75 * DAY - timedelta(hours=3)
    assert _mails() == Counter(
        credentials=1, renewal_reminder=3, line_suspended=1, line_terminated=1, winback=1
    )
    assert len(smtp_inbox.wait_for(7)) == 7
    assert _stages(life.line) == ["reminded", "grace", "suspended", "terminated"]


# --- exactly once, and only for the right lines ----------------------------------------------

URL = "/billing/webhooks/stripe/"


def _post(client, order, event_id):
    session = {
        "id": order.gateway_reference or "cs_test_renew",
        "object": "checkout.session",
        "client_reference_id": order.reference,
        "metadata": {"order": order.reference},
        "payment_status": "paid",
        "payment_intent": "pi_renew",
        "amount_total": int(order.amount * 100),
        "currency": order.currency.lower(),
    }
    event = {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"object": session},
    }
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, "whsec_emulator")
    return client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def test_the_same_renewal_webhook_twice_extends_once(
    client, make_order, run_tasks, xui_emulator, smtp_inbox
):
    first = make_order()
    order_mark_paid(order=first, gateway_payment_id="pay_first")
    run_tasks()
    line = Line.objects.get(order=first)
    before = line.expires_at
    renewal = order_create(
        customer=line.customer,
        plan=line.plan,
        gateway="stripe",
        kind=Order.Kind.RENEWAL,
        target_line=line,
    )
    assert _post(client, renewal, "evt_renew").status_code == 200
    assert _post(client, renewal, "evt_renew").json()["duplicate"] is True
    assert _post(client, renewal, "evt_renew_again").status_code == 200  # a second confirmation
    run_tasks()
    assert not order_mark_paid(order=renewal)
    run_tasks()
    line.refresh_from_db()
    assert PanelOperation.objects.filter(kind="extend", order=renewal).count() == 1
    assert line.expires_at == before + timedelta(days=30)
    [row] = xui_emulator.lines()
    assert int(row["exp_date"]) == int((before + timedelta(days=30)).timestamp())
    [renewed] = Message.objects.filter(kind="line_renewed")
    assert str(format_expiry(before + timedelta(days=30))) in renewed.body_text
    assert Line.objects.count() == 1


def test_a_renewal_paid_for_a_line_suspended_for_a_dispute_extends_it_but_does_not_resume_it(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    from boxoffice.provisioning.services import line_suspend

    first = make_order()
    order_mark_paid(order=first)
    run_tasks()
    line = Line.objects.get(order=first)
    line_suspend(line=line, reason="payment disputed")
    run_tasks()
    line.refresh_from_db()
    assert line.suspension_reason == "payment disputed"
    before = line.expires_at
    renewal = order_create(
        customer=line.customer, plan=line.plan, gateway="manual", kind="renewal", target_line=line
    )
    assert order_mark_paid(order=renewal)
    run_tasks()
    line.refresh_from_db()
    assert line.expires_at == before + timedelta(days=30)
    assert line.status == Line.Status.SUSPENDED
    assert not PanelOperation.objects.filter(kind="resume").exists()
    [row] = xui_emulator.lines()
    assert str(row["enabled"]) == "0"
    # And the lifecycle leaves it alone: no reminders, no overdue suspension, no termination.
    with time_machine.travel(line.expires_at + timedelta(days=40), tick=False):
        assert lines_lifecycle_run() == Counter(
            reminded=0, grace=0, suspended=0, terminated=0, winback=0
        )


def test_a_paid_renewal_of_a_terminated_line_waits_for_a_person(make_order, run_tasks, db):
    order = make_order()
    line = Line.objects.create(
        customer=order.customer,
        plan=order.plan,
        order=order,
        panel=order.plan.panel_mappings.get().panel,
        username="gone",
        password="x",
        panel_line_id="9",
        status=Line.Status.CANCELLED,
        stage=Line.Stage.TERMINATED,
    )
    renewal = order_create(
        customer=line.customer, plan=line.plan, gateway="manual", kind="renewal", target_line=line
    )
    assert order_mark_paid(order=renewal)
    renewal.refresh_from_db()
    assert renewal.status == Order.Status.PAID and renewal.needs_review
    assert not PanelOperation.objects.filter(kind="extend").exists()


def test_a_worker_back_after_days_sends_only_the_nearest_reminder_and_none_to_trials(
    make_order, client, settings
):
    order = make_order()
    panel = order.plan.panel_mappings.get().panel
    with time_machine.travel(T0, tick=False):

        def line(username, **kwargs):
            return Line.objects.create(
                customer=order.customer,
                plan=order.plan,
                panel=panel,
                username=username,
                password="x",
                panel_line_id=username,
                status=Line.Status.ACTIVE,
                expires_at=T0 + timedelta(days=2),
                **kwargs,
            )

        paying, trial = line("paying"), line("trial", is_trial=True)
        assert lines_lifecycle_run()["reminded"] == 1
        assert lines_lifecycle_run()["reminded"] == 0  # once per line, period and offset
    [mail] = Message.objects.filter(kind="renewal_reminder")
    assert mail.line_id == paying.pk and "ends in 2 days" in mail.subject
    assert not Message.objects.filter(line=trial).exists()
    # Its one-click link opens this line's renewal checkout.
    [link] = re.findall(r"https?://\S+/renew/\S+/", mail.body_text)
    page = client.get(link.removeprefix(settings.SITE_URL))
    assert page.status_code == 200 and b"paying" in page.content


class _XuiWithoutDelete(XuiOneAdapter):
    """XUI One as a kind that declares no delete: termination is suspend + expire now."""

    kind = "xui_without_delete"
    capabilities = dataclasses.replace(
        XuiOneAdapter.capabilities, operations=XuiOneAdapter.capabilities.operations - {"delete"}
    )


def test_termination_on_a_kind_without_delete_disables_and_expires_the_line(
    make_order, run_tasks, xui_emulator, smtp_inbox, panel
):
    with registered_kind(_XuiWithoutDelete), time_machine.travel(T0, tick=False) as clock:
        panel.kind = _XuiWithoutDelete.kind
        panel.save(update_fields=["kind"])
        life = Life(clock, make_order, run_tasks, xui_emulator)
        for n in range(1, 62):
            life.day(n)
        row = life.row()
        assert row is not None and str(row["enabled"]) == "0"
        assert life.panel_expiry() == T0 + 61 * DAY - timedelta(hours=3)  # expired when closed
        assert life.line.stage == Line.Stage.TERMINATED
        op = PanelOperation.objects.get(kind="delete")
        assert op.params["done_as"] == "suspend+expire_now"
    assert _mails()["line_terminated"] == 1


def test_a_renewal_paid_while_the_termination_is_on_its_way_waits_for_a_person(
    make_order, run_tasks, xui_emulator, smtp_inbox
):
    with time_machine.travel(T0, tick=False) as clock:
        life = Life(clock, make_order, run_tasks, xui_emulator)
        for n in (23, 27, 30, 31, 34):
            life.day(n)
        assert life.line.stage == Line.Stage.SUSPENDED
        xui_emulator.set_faults(mode="down")
        life.day(61)  # the termination is queued; the panel does not answer
        assert PanelOperation.objects.get(kind="delete").status != "succeeded"
        order = order_create(
            customer=life.line.customer,
            plan=life.line.plan,
            gateway="manual",
            kind=Order.Kind.RENEWAL,
            target_line=life.line,
        )
        assert order_mark_paid(order=order)
        order.refresh_from_db()
        assert order.needs_review and "being terminated" in order.review_reason
        assert not PanelOperation.objects.filter(kind="extend").exists()


def test_a_line_expired_long_before_the_lifecycle_existed_is_left_alone(make_order):
    order = make_order()
    line = Line.objects.create(
        customer=order.customer,
        plan=order.plan,
        panel=order.plan.panel_mappings.get().panel,
        username="old",
        password="x",
        panel_line_id="5",
        status=Line.Status.EXPIRED,
        expires_at=T0 - timedelta(days=45),
    )
    with time_machine.travel(T0, tick=False):
        assert not any(lines_lifecycle_run().values())
    assert not PanelOperation.objects.filter(line=line).exists()
    assert not Message.objects.filter(line=line).exists()


def test_a_trial_line_is_converted_not_renewed(plan, customer):
    """A renewal would extend a trial and leave the panel's trial flag on: trials convert."""
    from boxoffice.provisioning.lifecycle import line_offered_for_renewal, line_renewable

    trial = Line.objects.create(
        customer=customer,
        plan=plan,
        panel=plan.panel_mappings.get().panel,
        username="trialist1",
        password="trial-pw-1",
        panel_line_id="77",
        status=Line.Status.ACTIVE,
        is_trial=True,
    )
    assert not line_renewable(trial) and not line_offered_for_renewal(trial)
    trial.is_trial = False
    assert line_renewable(trial) and line_offered_for_renewal(trial)
