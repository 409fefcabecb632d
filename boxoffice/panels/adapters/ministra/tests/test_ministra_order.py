"""A Ministra MAG order end to end: the MAC at checkout (the storefront's real form), the order
paid, the account registered on the portal (emulator) by the worker's task, and the credentials
mail in the local SMTP inbox with the portal URL and the MAC; then a suspension, a renewal and a
create that timed out after the portal acted, each checked on the portal's stored account."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from boxoffice.billing.models import Order
from boxoffice.billing.services import order_mark_paid
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import line_extend, line_suspend

pytestmark = pytest.mark.django_db(transaction=True)

MAC = "00:1A:79:AB:CD:EF"


def _checkout(plan, *, device: str, mac: str = "") -> Order:
    page = Client().get(reverse("storefront:checkout", args=[plan.slug]))
    assert page.status_code == 200
    assert 'name="mac_address"' in page.content.decode()  # a Ministra panel takes boxes
    response = Client().post(
        reverse("storefront:checkout", args=[plan.slug]),
        {
            "email": "box.owner@example.test",
            "name": "Box Owner",
            "device": device,
            "mac_address": mac,
            "country": "DE",
            "gateway": "manual",
        },
    )
    assert response.status_code == 303, response.content[:500]
    return Order.objects.get(customer__email="box.owner@example.test")


def _mail_text(smtp_inbox) -> tuple[str, str]:
    [mail] = [m for m in smtp_inbox.wait_for(1) if m["To"] == "box.owner@example.test"]
    return (
        mail.get_body(preferencelist=("plain",)).get_content(),
        mail.get_body(preferencelist=("html",)).get_content(),
    )


def test_a_mag_order_registers_the_box_on_the_portal_and_mails_the_portal_url(
    ministra_plan, ministra_emulator, run_tasks, smtp_inbox
):
    order = _checkout(ministra_plan, device="mag", mac="00-1a-79-ab-cd-ef")
    assert order.mac_address == MAC
    assert order_mark_paid(order=order)
    run_tasks()

    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    [account] = ministra_emulator.accounts()
    assert account["stb_mac"] == MAC
    assert account["account_number"] == line.username == line.panel_line_id
    assert account["tariff_plan"] == "premium" and account["status"] == 1
    assert order.reference in account["comment"]
    # The expiry the portal stores is the one Boxoffice holds (the answer cannot show it).
    assert line.expires_at is not None
    assert account["end_date"] == line.expires_at.strftime("%Y-%m-%d %H:%M:%S")

    text, html = _mail_text(smtp_inbox)
    for part in (text, html):
        assert f"{ministra_emulator.base_url}/stalker_portal/c/" in part
        assert MAC in part
        assert "no username or password" in part
        assert "get.php" not in part and "Xtream" not in part  # not an XUI line

    # Suspended: status 0 on the portal; renewed: the new end_date there, status untouched.
    line_suspend(line=line)
    run_tasks()
    assert ministra_emulator.accounts()[0]["status"] == 0
    renewed = (timezone.now() + timedelta(days=400)).replace(microsecond=0)
    line_extend(line=line, expires_at=renewed)
    run_tasks()
    line.refresh_from_db()
    assert line.expires_at == renewed
    assert ministra_emulator.accounts()[0]["end_date"] == renewed.strftime("%Y-%m-%d %H:%M:%S")


def test_a_mag_box_registered_by_a_create_that_timed_out_is_adopted_once(
    ministra_plan, ministra_emulator, run_tasks, smtp_inbox
):
    Panel.objects.update(timeout_seconds=0.4)
    order = _checkout(ministra_plan, device="mag", mac=MAC)
    ministra_emulator.set_faults("act_then_timeout", latency_ms=700, count=1)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert order_mark_paid(order=order)
        run_tasks()
        op = PanelOperation.objects.get(kind=PanelOperation.Kind.CREATE)
        assert op.status == PanelOperation.Status.PENDING and op.last_error_code == "timeout"
        assert len(ministra_emulator.accounts()) == 1  # the portal acted before it hung
        clock.move_to(op.next_attempt_at + timedelta(milliseconds=1))
        run_tasks()

    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE and line.panel_line_id == line.username
    assert len(ministra_emulator.accounts()) == 1
    assert [r["method"] for r in ministra_emulator.request_log].count("POST") == 1
    assert line.expires_at is not None  # kept from the first attempt, not the adopted read
    text, _ = _mail_text(smtp_inbox)
    assert MAC in text


def test_an_app_order_gets_a_login_account_and_the_login_in_the_mail(
    ministra_plan, ministra_emulator, run_tasks, smtp_inbox
):
    order = _checkout(ministra_plan, device="app")
    assert order_mark_paid(order=order)
    run_tasks()

    line = Line.objects.get(order=order)
    [account] = ministra_emulator.accounts()
    assert account["stb_mac"] == "" and account["login"] == line.username
    assert ministra_emulator.password_matches(line.username, line.password)
    text, _ = _mail_text(smtp_inbox)
    assert f"{ministra_emulator.base_url}/stalker_portal/c/" in text
    assert line.username in text and line.password in text
