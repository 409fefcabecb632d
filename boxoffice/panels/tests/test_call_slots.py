"""The per-panel bound of calls in flight, across processes: on the database in use (SQLite:
flocks beside the file; PostgreSQL: advisory locks), two `PanelSlots` over their own backends
play two processes, and a real process killed while holding slots gives them back."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

import pytest
from django.db import connection

from boxoffice.billing.services import order_mark_paid
from boxoffice.panels.models import Panel
from boxoffice.panels.slots import PanelBusy, PanelSlots, _backend_for_database
from boxoffice.provisioning.engine import operation_execute
from boxoffice.provisioning.models import PanelOperation
from boxoffice.runtime.tests.test_worker_process import worker_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def processes():
    """`processes()` is a new PanelSlots over a backend of its own for this database, as
    another process would have; all are closed at the end."""
    made: list[PanelSlots] = []

    def make() -> PanelSlots:
        slots = PanelSlots(_backend_for_database())
        assert type(slots.backend).__name__ in ("FileSlots", "PostgresSlots")
        made.append(slots)
        return slots

    yield make
    for slots in made:
        slots.backend.close()


def test_it_never_lets_two_processes_hold_more_than_the_limit_together(processes):
    first, second = processes(), processes()
    with contextlib.ExitStack() as held:
        assert held.enter_context(first.hold(panel_id=7, limit=3, timeout=1)) == 0
        assert held.enter_context(second.hold(panel_id=7, limit=3, timeout=1)) == 1
        assert held.enter_context(first.hold(panel_id=7, limit=3, timeout=1)) == 2
        for slots in (first, second):
            with (
                pytest.raises(PanelBusy, match="busy"),
                slots.hold(panel_id=7, limit=3, timeout=0.05),
            ):
                pass
        # Another panel has slots of its own.
        with second.hold(panel_id=8, limit=3, timeout=0.05) as slot:
            assert slot == 0
    # Released: the other process takes them all.
    with contextlib.ExitStack() as held:
        assert [held.enter_context(second.hold(panel_id=7, limit=3, timeout=1)) for _ in "abc"] == [
            0,
            1,
            2,
        ]


def test_it_gives_a_slot_freed_by_another_process_to_a_waiting_call(processes):
    first, second = processes(), processes()
    release = threading.Event()
    taken = threading.Event()

    def hold_until_released() -> None:
        with first.hold(panel_id=7, limit=1, timeout=1):
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=hold_until_released)
    holder.start()
    assert taken.wait(10)
    got: list[int] = []

    def wait_for_slot() -> None:
        with second.hold(panel_id=7, limit=1, timeout=30) as slot:
            got.append(slot)

    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    release.set()
    holder.join(10)
    waiter.join(30)
    assert got == [0]


def test_it_keeps_the_threads_of_one_process_within_the_limit(processes):
    slots = processes()
    outcome: list[str] = []
    with slots.hold(panel_id=7, limit=2, timeout=1), slots.hold(panel_id=7, limit=2, timeout=1):

        def third() -> None:
            try:
                with slots.hold(panel_id=7, limit=2, timeout=0.05):
                    outcome.append("held")
            except PanelBusy:
                outcome.append("busy")

        t = threading.Thread(target=third)
        t.start()
        t.join(10)
    assert outcome == ["busy"]
    with slots.hold(panel_id=7, limit=2, timeout=1), slots.hold(panel_id=7, limit=2, timeout=1):
        pass


def test_it_frees_the_slots_of_a_session_that_ended(processes):
    first, second = processes(), processes()
    # The dead holder's slots, taken on its backend directly (it never gets to release them).
    tokens = [first.backend.take(7, 0), first.backend.take(7, 1)]
    assert None not in tokens
    with pytest.raises(PanelBusy), second.hold(panel_id=7, limit=2, timeout=0.05):
        pass
    # What the end of a process does: PostgreSQL ends its session (here terminated from
    # outside), the kernel closes its files.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(%s)", [first.backend._conn.info.backend_pid]
            )
    else:
        for fd in tokens:
            os.close(fd)
    with second.hold(panel_id=7, limit=2, timeout=5), second.hold(panel_id=7, limit=2, timeout=5):
        pass


def test_it_keeps_the_slot_files_in_a_private_folder_beside_the_database(processes):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite keeps its slots in files")
    slots = processes()
    with slots.hold(panel_id=7, limit=1, timeout=1):
        pass
    directory = slots.backend.directory
    assert str(directory) == f"{connection.settings_dict['NAME']}.slots"
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / "panel-7-0").stat().st_mode & 0o777 == 0o600


def test_it_retries_an_operation_that_found_the_panel_busy_without_counting_it_against_the_panel(
    make_order, panel, xui_emulator, settings, processes
):
    settings.PROVISIONING = {**settings.PROVISIONING, "OPERATION_DEADLINE_SECONDS": 0.2}
    Panel.objects.filter(pk=panel.pk).update(max_concurrency=1)
    order = make_order()
    order_mark_paid(order=order)
    op = PanelOperation.objects.get(order=order)
    other_process = processes()
    with other_process.hold(panel_id=panel.pk, limit=1, timeout=1):
        assert operation_execute(operation_id=op.pk) == "retry"
    op.refresh_from_db()
    assert op.status == PanelOperation.Status.PENDING
    assert op.last_error_code == "panel_busy"
    panel.refresh_from_db()
    assert panel.consecutive_failures == 0 and panel.last_error == ""
    assert xui_emulator.request_log == []  # the panel was never called


@pytest.mark.multiprocess
@pytest.mark.django_db(transaction=True)
def test_it_frees_the_slots_of_a_process_killed_while_holding_them(processes):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER],
        env={**worker_env(), "DJANGO_SETTINGS_MODULE": "boxoffice.settings"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held 0 1"
        slots = processes()
        with pytest.raises(PanelBusy), slots.hold(panel_id=7, limit=2, timeout=0.1):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with (
            slots.hold(panel_id=7, limit=2, timeout=10),
            slots.hold(panel_id=7, limit=2, timeout=10),
        ):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


_HOLDER = """
import sys, django
django.setup()
from boxoffice.panels.slots import panel_slots
slots = panel_slots()
with slots.hold(panel_id=7, limit=2, timeout=5) as a, slots.hold(panel_id=7, limit=2, timeout=5) as b:
    print("held", a, b, flush=True)
    sys.stdin.read()
"""
