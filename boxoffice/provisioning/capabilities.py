"""The operation layer adapts to what a panel kind declares it cannot do.

A kind's `capabilities` say which adapter operations it has. An operation the kind lacks is
not sent to the panel (where it would end in review as "unsupported") but carried out with
what it has, and recorded so: a delete on a kind that cannot delete disables the line and
sets its expiry to now, so it plays no more and the panel's own clean-up can remove it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.panels.adapters.base import Capabilities, PanelAdapter, PanelLine
from boxoffice.provisioning.models import PanelOperation


@dataclass(frozen=True)
class OperationPlan:
    """How to carry out an operation the kind cannot do as such: these adapter calls."""

    operation: str
    steps: tuple[str, ...]  # adapter operations, in order: "suspend", "expire_now"
    done_as: str  # recorded on the operation, e.g. "suspend+expire"


def operation_plan_for(capabilities: Capabilities, operation_kind: str) -> OperationPlan | None:
    """None: the kind does it as such. Otherwise the plan that stands in for it."""
    if capabilities.can(operation_kind):
        return None
    if operation_kind == "delete":
        steps = tuple(
            step
            for step, needs in (("suspend", "suspend"), ("expire_now", "extend"))
            if capabilities.can(needs)
        )
        if steps:
            return OperationPlan(operation="delete", steps=steps, done_as="+".join(steps))
    return None  # nothing stands in: the adapter refuses, the operation goes to review


def operation_adapted_run(
    op: PanelOperation, adapter: PanelAdapter, panel_line_id: str
) -> tuple[bool, PanelLine | None]:
    """Run `op` the way the kind can, if it cannot do it as such. Returns (adapted, result);
    not adapted means the caller runs the operation as usual."""
    plan = operation_plan_for(adapter.capabilities, op.kind)
    if plan is None:
        return False, None
    result: PanelLine | None = None
    for step in plan.steps:
        if step == "suspend":
            result = adapter.suspend(panel_line_id)
        elif step == "expire_now":
            now: datetime = timezone.now().replace(microsecond=0)
            result = adapter.extend(panel_line_id, now)
    op.params = {**op.params, "done_as": plan.done_as}
    PanelOperation.objects.filter(pk=op.pk).update(params=op.params)
    audit_record(
        subject=op.line,
        action=f"line.{op.kind}_adapted",
        data={"operation": op.pk, "panel": op.panel.name, "done_as": plan.done_as},
    )
    return True, result
