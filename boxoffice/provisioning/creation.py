"""Creating a line exactly once, whatever happened on earlier attempts: panels can act and then
time out, so a retry first asks whether the line (or the device's MAC) exists and adopts it when
it carries our order reference; a username taken by someone else moves to the next suffix,
persisted before the next call."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.panels.adapters.base import (
    DeviceTaken,
    LineSpec,
    PanelLine,
    PermanentPanelError,
    TransientPanelError,
    UsernameTaken,
)
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.usernames import next_suffix_name

# Most suffixes tried in one attempt before giving up on a username (name1 … name20).
MAX_SUFFIX_TRIES = 20


def line_create_once(op: PanelOperation, line: Line, adapter) -> PanelLine:
    """Create the line exactly once, whatever happened on earlier attempts.

    Panels can act and then time out, so before a retry we ask whether the line exists; a line
    carrying our order reference is adopted. A name taken by someone else moves us to the next
    suffix, persisted before the next call so a crash cannot lose track of the name in use.
    """
    if line.panel_line_id:
        return adapter.get_line(line.panel_line_id)
    if line.device == "mag":
        return _run_create_device(op, line, adapter)
    if op.attempts > 1:
        found = adapter.find_line(line.username)
        if found and _is_ours(found, line):
            return found
        if found:
            line_take_next_name(line)
    for _ in range(MAX_SUFFIX_TRIES):
        spec = _line_spec_with_expiry(op, line)
        try:
            return adapter.create_line(spec)
        except UsernameTaken:
            found = adapter.find_line(line.username)
            if found and _is_ours(found, line):
                return found
            line_take_next_name(line)
    raise PermanentPanelError(
        f"no free username after {MAX_SUFFIX_TRIES} tries starting from {line.requested_username!r}",
        code="username_exhausted",
    )


def _run_create_device(op: PanelOperation, line: Line, adapter) -> PanelLine:
    """A MAG/Formuler box: its MAC registered on the panel, exactly once. The MAC is unique on
    the panel, so after a timeout (or when the panel says STATUS_EXISTS_MAC) the device is looked
    up by MAC and adopted if its line carries our order reference; a MAC registered by someone
    else stops for an operator (it may be a typo at checkout, or a box sold on)."""
    if not line.mac_address:
        raise PermanentPanelError("a MAG/Formuler order without a MAC address", code="no_mac")
    if op.attempts > 1:
        found = adapter.find_device(line.mac_address)
        if found is not None:
            return _device_adopt(found, line)
    for _ in range(MAX_SUFFIX_TRIES):
        spec = _line_spec_with_expiry(op, line)
        try:
            return adapter.create_device(spec)
        except DeviceTaken:
            found = adapter.find_device(line.mac_address)
            if found is None:
                raise TransientPanelError(
                    f"the panel says MAC {line.mac_address} exists but it cannot be found",
                    code="mac_not_found",
                ) from None
            return _device_adopt(found, line)
        except UsernameTaken:
            line_take_next_name(line)
    raise PermanentPanelError(
        f"no free username after {MAX_SUFFIX_TRIES} tries starting from {line.requested_username!r}",
        code="username_exhausted",
    )


def _device_adopt(found: PanelLine, line: Line) -> PanelLine:
    if _is_ours(found, line):
        if found.username != line.username:
            Line.objects.filter(pk=line.pk).update(username=found.username)
            line.username = found.username
        return found
    raise PermanentPanelError(
        f"MAC {line.mac_address} is already registered on the panel to another line "
        f"({found.username}); check the MAC with the customer or free it on the panel.",
        code="mac_taken",
    )


def line_take_next_name(line: Line) -> None:
    base = line.requested_username or line.username
    candidate = next_suffix_name(base=base, current=line.username)
    while (
        Line.objects.filter(panel_id=line.panel_id, username=candidate).exclude(pk=line.pk).exists()
    ):
        candidate = next_suffix_name(base=base, current=candidate)
    while True:
        try:
            # A savepoint: another line may take the candidate between the check and the write.
            with transaction.atomic():
                Line.objects.filter(pk=line.pk).update(username=candidate, username_adjusted=True)
        except IntegrityError:
            candidate = next_suffix_name(base=base, current=candidate)
            continue
        break
    old = line.username
    line.username = candidate
    line.username_adjusted = True
    audit_record(subject=line, action="line.username_adjusted", data={"from": old, "to": candidate})


def line_first_expiry(params: dict, plan) -> datetime:
    """The expiry of a new line whose first attempt starts now (a create operation's params)."""
    if params.get("duration_hours"):  # a period shorter than a day (a 24 h trial)
        duration = timedelta(hours=int(params["duration_hours"]))
    else:
        duration = timedelta(days=int(params.get("duration_days") or plan.duration_days))
    return (timezone.now() + duration).replace(microsecond=0)


def _line_spec(op: PanelOperation, line: Line) -> LineSpec:
    # Expiry counts from when the line really starts, so waiting for a panel costs no paid days.
    expires_at = line.expires_at or line_first_expiry(op.params, line.plan)
    return LineSpec(
        username=line.username,
        password=line.password,
        max_connections=line.connections,
        expires_at=expires_at,
        mapping=dict(line.plan_mapping),
        notes=line.panel_notes,
        is_trial=line.is_trial,
        mac=line.mac_address,
    )


def _line_spec_with_expiry(op: PanelOperation, line: Line) -> LineSpec:
    """The spec to create, with the line's expiry fixed on its first attempt (a retry after a
    timeout then sends the same expiry the panel may already hold)."""
    spec = _line_spec(op, line)
    if line.expires_at is None:
        Line.objects.filter(pk=line.pk).update(expires_at=spec.expires_at)
        line.expires_at = spec.expires_at
    return spec


def _is_ours(found: PanelLine, line: Line) -> bool:
    return line.panel_notes in (found.notes or "")
