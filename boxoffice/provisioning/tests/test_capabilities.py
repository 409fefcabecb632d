"""What stands in for an operation a panel kind declares it cannot do."""

from __future__ import annotations

from boxoffice.panels.adapters.base import OPERATIONS, Capabilities
from boxoffice.panels.adapters.xui_one.adapter import XuiOneAdapter
from boxoffice.provisioning.capabilities import operation_plan_for


def test_a_kind_that_can_delete_deletes():
    assert operation_plan_for(XuiOneAdapter.capabilities, "delete") is None


def test_a_delete_without_delete_is_suspend_then_expire():
    plan = operation_plan_for(Capabilities(operations=OPERATIONS - {"delete"}), "delete")
    assert plan is not None
    assert plan.steps == ("suspend", "expire_now")
    assert plan.done_as == "suspend+expire_now"


def test_a_delete_uses_what_is_there():
    caps = Capabilities(operations=OPERATIONS - {"delete", "extend"})
    assert operation_plan_for(caps, "delete").steps == ("suspend",)


def test_nothing_stands_in_when_the_kind_has_nothing_that_could():
    caps = Capabilities(operations=frozenset({"create_line", "get_line"}))
    assert operation_plan_for(caps, "delete") is None
    assert operation_plan_for(caps, "change_password") is None
