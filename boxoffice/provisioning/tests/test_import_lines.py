"""`boxoffice import-lines` against the XUI One emulator over real HTTP."""

from __future__ import annotations

import io
import resource
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from boxoffice.customers.models import Customer
from boxoffice.panels.adapters.base import LineSpec
from boxoffice.panels.models import panel_adapter_release
from boxoffice.provisioning.imports import is_placeholder_email, lines_import
from boxoffice.provisioning.models import ImportedLine, Line

READ_ACTIONS = {"get_lines", "get_line", "get_mags", "get_mag"}
EXPIRY = 1830000000  # 2027-12-29, ahead of the tests' clock


def actions(emulator) -> set[str]:
    return {action for action, _ in emulator.request_log}


def run_import(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_lines", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_lines_with_their_customers_and_keeps_what_the_panel_has(
    xui_emulator, panel, plan, customer
):
    adapter = panel.adapter()
    expires = datetime(2027, 6, 1, tzinfo=UTC)
    known = adapter.create_line(
        LineSpec(
            username="janeold",
            password="OldPw12345",
            max_connections=3,
            expires_at=expires,
            bouquets=(1, 2),
            notes=f"paid by {customer.email.upper()} in 2025",
        )
    )
    adapter.create_line(
        LineSpec(
            username="trialbob",
            password="BobPw12345",
            max_connections=1,
            expires_at=expires,
            bouquets=(2, 1),
            is_trial=True,
            notes="bob@example.org",
        )
    )
    adapter.create_line(
        LineSpec(
            username="anon",
            password="AnonPw1234",
            max_connections=1,
            expires_at=None,
            bouquets=(1, 2),
        )
    )
    adapter.suspend(adapter.find_line("anon").panel_line_id)
    adapter.create_line(
        LineSpec(
            username="nomap",
            password="NoMap12345",
            max_connections=1,
            expires_at=expires,
            bouquets=(5,),
        )
    )
    panel_adapter_release(adapter)
    before = len(xui_emulator.request_log)

    out, err = run_import("--panel", panel.name)

    assert "imported 3, 0 already here, 1 not imported" in out
    assert "nomap: no plan maps to its bouquets or package here; pass --plan" in out
    assert "[" in err and "lines" in err  # the progress bar went to stderr
    made = {action for action, _ in xui_emulator.request_log[before:]}
    assert made == READ_ACTIONS - {"get_mag"}  # it read the panel, and changed nothing

    jane = Line.objects.get(username="janeold")
    assert jane.customer == customer  # matched by the e-mail in the notes, any case
    assert jane.panel_line_id == known.panel_line_id
    assert (jane.expires_at, jane.connections, jane.status) == (expires, 3, Line.Status.ACTIVE)
    assert jane.plan == plan and jane.plan_mapping["bouquets"] == [1, 2]
    assert jane.password == "OldPw12345"

    bob = Line.objects.get(username="trialbob")
    assert bob.is_trial and bob.customer.email == "bob@example.org"
    anon = Line.objects.get(username="anon")
    assert anon.status == Line.Status.SUSPENDED and anon.expires_at is None
    assert is_placeholder_email(anon.customer.email) and anon.customer.unsubscribed_at
    assert ImportedLine.objects.get(line=anon).placeholder_customer is True
    assert ImportedLine.objects.get(line=jane).placeholder_customer is False

    # Twice: nothing new, and a plan for the rest brings the last one in.
    out, _ = run_import("--panel", panel.name, "--plan", plan.slug)
    assert "imported 1, 3 already here, 0 not imported" in out
    assert Line.objects.count() == 4 and ImportedLine.objects.count() == 4


def test_it_imports_device_lines_with_their_mac(xui_emulator, panel, plan):
    adapter = panel.adapter()
    adapter.create_device(
        LineSpec(
            username="boxline01",
            password="BoxPw12345",
            max_connections=1,
            expires_at=datetime(2027, 6, 1, tzinfo=UTC),
            bouquets=(1, 2),
            mac="00:1a:79:aa:bb:cc",
        )
    )
    panel_adapter_release(adapter)

    run_import("--panel", panel.name, "--no-progress")

    line = Line.objects.get()
    assert (line.device, line.mac_address) == ("mag", "00:1A:79:AA:BB:CC")


def test_a_dry_run_writes_nothing(xui_emulator, panel, plan):
    xui_emulator.seed_lines(5, prefix="dry", exp_date=EXPIRY, bouquets=(1, 2))
    out, _ = run_import("--panel", panel.name, "--dry-run", "--no-progress")
    assert out.startswith("Dry run: Test panel: 5 lines read, would import 5")
    assert not Line.objects.exists() and not Customer.objects.exists()


def test_it_says_which_panels_exist_for_an_unknown_name(db, panel):
    with pytest.raises(CommandError, match="No panel named 'nope' \\(panels: Test panel\\)"):
        run_import("--panel", "nope")


def test_the_import_costs_the_same_queries_for_30_lines_as_for_15(xui_emulator, panel, plan):
    def queries(count: int) -> int:
        Line.objects.all().delete()
        xui_emulator.reset()
        xui_emulator.seed_lines(
            count,
            prefix=f"q{count}x",
            exp_date=EXPIRY,
            bouquets=(1, 2),
            admin_notes=f"q{count}x{{n}}@example.net",
        )
        with CaptureQueriesContext(connection) as captured:
            report = lines_import(panel=panel, page_size=count)  # one page of lines
        assert report.created == count
        return len(captured)

    # Customers, lines and import rows go in bulk: no query per line (sizes under SQLite's
    # bound-parameter limit, past which Django splits one bulk insert into several).
    assert queries(30) == queries(15)


@pytest.mark.slow
def test_it_imports_ten_thousand_lines_once_with_a_progress_bar(xui_emulator, panel, plan):
    xui_emulator.seed_lines(
        10_000,
        prefix="bulk",
        exp_date=EXPIRY,
        bouquets=(1, 2),
        admin_notes="customer{n}@example.net",
        trial_every=0,
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    out, err = run_import("--panel", panel.name)
    elapsed = time.monotonic() - started
    # tracemalloc would slow the run several times over; the peak RSS of the process (the
    # emulator's 10,000 rows included) says what the import added.
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"\nimport of 10,000 lines: {elapsed:.1f}s, peak RSS {rss_after / 1024:.0f} MiB "
        f"(+{(rss_after - rss_before) / 1024:.0f} MiB during the import)"
    )

    assert "imported 10000, 0 already here, 0 not imported" in out
    assert "10000/10000 lines 100%" in err
    assert Line.objects.count() == 10_000 and Customer.objects.count() == 10_000
    assert actions(xui_emulator) <= READ_ACTIONS

    started = time.monotonic()
    out, _ = run_import("--panel", panel.name, "--no-progress")
    print(f"second run: {time.monotonic() - started:.1f}s")
    assert "imported 0, 10000 already here" in out
    assert Line.objects.count() == 10_000 and ImportedLine.objects.count() == 10_000
    # Pages are streamed and written in batches, not the whole panel held at once.
    assert rss_after - rss_before < 100 * 1024


def test_expired_lines_come_in_as_expired(xui_emulator, panel, plan):
    past = int((timezone.now() - timedelta(days=3)).timestamp())
    xui_emulator.seed_lines(1, prefix="old", exp_date=past, bouquets=(1, 2))
    run_import("--panel", panel.name, "--no-progress")
    assert Line.objects.get().status == Line.Status.EXPIRED


def test_no_mail_reaches_a_placeholder_customer(xui_emulator, panel, plan, smtp_inbox):
    from boxoffice.messaging.models import Message
    from boxoffice.messaging.services import message_create, message_send

    xui_emulator.seed_lines(1, prefix="nomail", exp_date=EXPIRY, bouquets=(1, 2))
    run_import("--panel", panel.name, "--no-progress")
    placeholder = Line.objects.get().customer
    assert is_placeholder_email(placeholder.email)

    message, _ = message_create(
        kind="credentials_test",
        to_email=placeholder.email,
        subject="Renew",
        body_text="Renew",
        body_html="",
        dedupe_key=None,
        customer=placeholder,
    )
    assert message_send(message_id=message.pk) == "dropped"
    dropped = Message.objects.get(pk=message.pk)
    assert dropped.status == Message.Status.DROPPED and "placeholder" in dropped.last_error
