"""What each operation kind does: one handler per kind, in one table.

A handler has three parts, called by the engine (`provisioning/engine.py`):
- `run(op, line, adapter)`: the panel calls, outside any transaction; returns the line as the
  panel reports it afterwards (or None), or raises `PanelError`;
- `record(op, line, result)`: in the transaction that marks the operation succeeded, the line
  fields the panel's answer changes (and any follow-up rows the change owes);
- `mail(op, line, previous_status)`: in that same transaction, the customer mail it owes.
Adding an operation kind is one entry here (and its `PanelOperation.Kind`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.panels.adapters.base import (
    LineNotFound,
    PanelAdapter,
    PanelLine,
    PermanentPanelError,
)
from boxoffice.panels.models import Panel
from boxoffice.panels.services import panel_lines_held_add
from boxoffice.provisioning import emails
from boxoffice.provisioning.creation import line_create_once, line_take_next_name
from boxoffice.provisioning.lifecycle import OVERDUE, stage_audit
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.onboarding import onboarding_schedule
from boxoffice.provisioning.services import operation_enqueue

Op = PanelOperation
Fields = dict[str, Any]


@dataclass(frozen=True)
class Handler:
    run: Callable[[PanelOperation, Line, PanelAdapter], PanelLine | None]
    record: Callable[[PanelOperation, Line, PanelLine | None], Fields]
    mail: Callable[[PanelOperation, Line, str], object] | None = None
    # False for the kinds that make a line on a panel (create, move); the others act on the
    # line the panel has, and the kind's capabilities may change how (capabilities.py).
    acts_on_existing_line: bool = True


def panel_line_id_of(op: PanelOperation, line: Line) -> str:
    # A delete queued by a move names the old panel's line id; other operations act on the line.
    pid = op.params.get("panel_line_id") or line.panel_line_id
    if not pid:
        raise PermanentPanelError("the line was never created on the panel", code="no_panel_line")
    return pid


# --- create ---------------------------------------------------------------------------------


def _create_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    if result is None:
        return {}
    audit_record(subject=line, action="line.active", data={"panel_line_id": result.panel_line_id})
    return {
        "panel_line_id": result.panel_line_id,
        "status": Line.Status.ACTIVE,
        # A kind that cannot read expiries back (Ministra) reports the one we sent, or None
        # when it adopted a line: the expiry fixed before the first attempt stands then.
        "expires_at": result.expires_at if result.expires_at_known else line.expires_at,
        "activated_at": line.activated_at or timezone.now(),
    }


def _create_mail(op: PanelOperation, line: Line, previous_status: str) -> None:
    if previous_status == Line.Status.RESERVED:  # the first activation, not a re-run
        emails.credentials_email_send(line=line)
        # The rest of the welcome sequence is owed from now: its rows commit with this success.
        onboarding_schedule(line=line, first=True)


# --- move -----------------------------------------------------------------------------------


def _move_run(op: PanelOperation, line: Line, adapter: PanelAdapter) -> PanelLine:
    # Create on the target exactly like a new line (adopting one a timed-out attempt made): the
    # same username where it is free there, else the next free suffix (persisted before the
    # call, so a crash resumes with the name in use).
    on_target = copy.copy(line)
    on_target.panel_id, on_target.panel_line_id = op.panel_id, ""
    if (
        Line.objects.filter(panel_id=op.panel_id, username__iexact=line.username)
        .exclude(pk=line.pk)
        .exists()
    ):
        line_take_next_name(on_target)
    created = line_create_once(op, on_target, adapter)
    # Read back: the customer is mailed these details, so they must be what the panel holds.
    result = adapter.get_line(created.panel_line_id)
    if result.username.lower() != on_target.username.lower() or result.password != line.password:
        raise PermanentPanelError(
            f"the target panel holds {result.username!r} with other credentials than ours",
            code="move_readback_mismatch",
        )
    line.username = on_target.username
    return result


def _move_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    if result is None:
        return {}
    if op.params.get("from_panel_line_id"):
        # Then the line leaves the old panel: a delete there, queued with this success.
        cleanup = PanelOperation.objects.create(
            line=line,
            panel=Panel.objects.get(pk=op.params["from_panel"]),
            kind=Op.Kind.DELETE,
            params={"panel_line_id": op.params["from_panel_line_id"], "after_move": op.pk},
        )
        operation_enqueue(operation=cleanup)
    if op.params.get("from_panel"):
        panel_lines_held_add(panel_id=int(op.params["from_panel"]), delta=-1)
    panel_lines_held_add(panel_id=op.panel_id, delta=1)
    audit_record(
        subject=line,
        action="line.moved",
        data={"operation": op.pk, "from": op.params.get("from_panel"), "to": op.panel_id},
    )
    return {
        "panel_id": op.panel_id,
        "panel_line_id": result.panel_line_id,
        "username": line.username,
        "routing_reason": str(op.params.get("reason") or "moved by the operator")[:300],
    }


# --- changes to an existing line -------------------------------------------------------------


def _extend_run(op: PanelOperation, line: Line, adapter: PanelAdapter) -> PanelLine:
    expires_at = datetime.fromisoformat(op.params["expires_at"])
    if op.params.get("grace") and line.expires_at and line.expires_at > expires_at:
        # Grace days for a failed charge, run after a renewal already paid: never shorten it.
        expires_at = line.expires_at
    if op.params.get("plan"):
        # A renewal into the downgrade the customer chose: expiry and plan in one change.
        return _change_plan_run(op, line, adapter, new_expiry=expires_at)
    return adapter.extend(panel_line_id_of(op, line), expires_at)


def _change_plan_run(
    op: PanelOperation, line: Line, adapter: PanelAdapter, new_expiry: datetime | None = None
) -> PanelLine:
    return adapter.change_plan(
        panel_line_id_of(op, line),
        max_connections=int(op.params["connections"]),
        mapping=op.params.get("mapping") or {},
        new_expiry=new_expiry,
    )


def _plan_fields(op: PanelOperation, result: PanelLine) -> Fields:
    """The line's plan as the panel now has it (an upgrade, or a renewal into a downgrade)."""
    audit_record(
        subject=op.line,
        action="line.plan_changed",
        data={"operation": op.pk, "from": op.line.plan_id, "to": op.params["plan"]},
    )
    return {
        "plan_id": int(op.params["plan"]),
        "connections": result.max_connections,
        "extra_connections": int(op.params.get("extra_connections", 0)),
        "plan_mapping": op.params.get("mapping") or {},
        "next_plan_id": None,
    }


def _change_plan_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    return _plan_fields(op, result) if result is not None else {}


def _set_connections_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    if result is None:
        return {}
    fields: Fields = {"connections": result.max_connections}
    if "extra_connections" in op.params:  # an add-on bought
        fields["extra_connections"] = int(op.params["extra_connections"])
    return fields


def _extend_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    if result is None or op.params.get("grace"):
        # Grace days are lent on the panel only: the line's expiry stays what was paid.
        return {}
    expired = line.status == Line.Status.EXPIRED
    fields: Fields = {
        "expires_at": result.expires_at,
        "status": Line.Status.ACTIVE if expired else line.status,
    }
    if op.params.get("plan"):
        fields |= _plan_fields(op, result)
    ahead = result.expires_at is not None and result.expires_at > timezone.now()
    if ahead and line.stage in (Line.Stage.REMINDED, Line.Stage.GRACE):
        fields |= stage_audit(line=line, stage=Line.Stage.ACTIVE, why="extended")
    if (
        ahead
        and op.params.get("renewal")
        and line.status == Line.Status.SUSPENDED
        and line.suspension_reason == OVERDUE
    ):
        # Paid after the suspension for non-payment: resumed now that the panel has the new
        # expiry (never a line suspended for a dispute or by an operator).
        resume = PanelOperation.objects.create(
            line=line,
            panel=line.panel,
            order=op.order,
            kind=Op.Kind.RESUME,
            params={"after_renewal": op.pk},
            idempotency_key=f"renewal-resume:{op.pk}",
        )
        operation_enqueue(operation=resume)
    return fields


def _extend_mail(op: PanelOperation, line: Line, previous_status: str) -> None:
    if op.params.get("renewal"):
        emails.line_renewed_email_send(line=line, operation_id=op.pk)


def _suspend_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    reason = str(op.params.get("reason", ""))[:100]
    return {
        "status": Line.Status.SUSPENDED,
        "suspension_reason": reason,
        **stage_audit(line=line, stage=Line.Stage.SUSPENDED, why=reason or "suspended"),
    }


def _resume_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    return {
        "status": Line.Status.ACTIVE,
        "suspension_reason": "",
        **stage_audit(line=line, stage=Line.Stage.ACTIVE, why="resumed"),
    }


def _end_trial_run(op: PanelOperation, line: Line, adapter: PanelAdapter) -> PanelLine:
    expires_at = op.params.get("expires_at")
    return adapter.end_trial(
        panel_line_id_of(op, line),
        expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
        max_connections=int(op.params["connections"]),
    )


def _end_trial_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    if result is None:
        return {}
    audit_record(
        subject=line, action="line.trial_converted", data={"operation": op.pk, "plan": op.params}
    )
    return {
        "is_trial": result.is_trial,
        "expires_at": result.expires_at,
        "connections": result.max_connections,
        "plan_id": int(op.params["plan"]),
        "status": Line.Status.ACTIVE,
    }


def _delete_run(op: PanelOperation, line: Line, adapter: PanelAdapter) -> None:
    try:
        adapter.delete(panel_line_id_of(op, line))
    except LineNotFound:
        pass  # already gone (an earlier attempt acted, or an operator removed it): done
    return None


def _delete_record(op: PanelOperation, line: Line, result: PanelLine | None) -> Fields:
    # The cleanup after a move removes the old copy; the line itself lives on.
    if op.params.get("panel_line_id"):
        return {}
    why = str(op.params.get("reason") or "terminated")
    if line.status != Line.Status.CANCELLED:
        panel_lines_held_add(panel_id=line.panel_id, delta=-1)
    return {
        "status": Line.Status.CANCELLED,
        **stage_audit(line=line, stage=Line.Stage.TERMINATED, why=why),
    }


def _delete_mail(op: PanelOperation, line: Line, previous_status: str) -> None:
    if op.params.get("reason") == OVERDUE and not op.params.get("panel_line_id"):
        emails.line_terminated_email_send(line=line, operation_id=op.pk)


HANDLERS: dict[str, Handler] = {
    Op.Kind.CREATE: Handler(
        run=line_create_once,
        record=_create_record,
        mail=_create_mail,
        acts_on_existing_line=False,
    ),
    Op.Kind.MOVE: Handler(
        acts_on_existing_line=False,
        run=_move_run,
        record=_move_record,
        mail=lambda op, line, _: emails.line_moved_email_send(line=line, operation_id=op.pk),
    ),
    Op.Kind.EXTEND: Handler(run=_extend_run, record=_extend_record, mail=_extend_mail),
    Op.Kind.CHANGE_PASSWORD: Handler(
        run=lambda op, line, adapter: adapter.change_password(
            panel_line_id_of(op, line), op.secret
        ),
        record=lambda op, line, result: {"password": op.secret},
        mail=lambda op, line, _: emails.line_password_changed_email_send(
            line=line, operation_id=op.pk
        ),
    ),
    Op.Kind.SET_CONNECTIONS: Handler(
        run=lambda op, line, adapter: adapter.set_connections(
            panel_line_id_of(op, line), int(op.params["connections"])
        ),
        record=_set_connections_record,
        mail=lambda op, line, _: (
            emails.line_plan_changed_email_send(line=line, operation_id=op.pk)
            if op.order_id
            else None
        ),
    ),
    Op.Kind.CHANGE_PLAN: Handler(
        run=_change_plan_run,
        record=_change_plan_record,
        mail=lambda op, line, _: emails.line_plan_changed_email_send(line=line, operation_id=op.pk),
    ),
    Op.Kind.END_TRIAL: Handler(
        run=_end_trial_run,
        record=_end_trial_record,
        mail=lambda op, line, _: emails.trial_converted_email_send(line=line, operation_id=op.pk),
    ),
    Op.Kind.SUSPEND: Handler(
        run=lambda op, line, adapter: adapter.suspend(panel_line_id_of(op, line)),
        record=_suspend_record,
        mail=lambda op, line, _: emails.line_suspended_email_send(
            line=line, operation_id=op.pk, reason=op.params.get("reason", "")
        ),
    ),
    Op.Kind.RESUME: Handler(
        run=lambda op, line, adapter: adapter.resume(panel_line_id_of(op, line)),
        record=_resume_record,
    ),
    Op.Kind.DELETE: Handler(run=_delete_run, record=_delete_record, mail=_delete_mail),
}
