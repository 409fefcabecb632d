"""The migrations that move XUI One's columns into the kind's settings and mappings keep
every value, forwards and back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# Migrating forwards and back rebuilds the schema: seconds, so outside make test-fast.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BEFORE = [
    ("panels", "0002_incident_recovered_at"),
    ("catalog", "0001_initial"),
    ("provisioning", "0002_worker_heartbeat"),
]
AFTER = [
    ("panels", "0003_panel_settings_secrets"),
    ("catalog", "0002_planpanel_mapping"),
    ("provisioning", "0003_line_plan_mapping"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_it_moves_xui_columns_into_settings_and_secrets_and_back():
    old = migrate(BEFORE)
    Panel = old.get_model("panels", "Panel")
    Plan = old.get_model("catalog", "Plan")
    PlanPanel = old.get_model("catalog", "PlanPanel")
    panel = Panel.objects.create(
        name="Old",
        kind="xui_one",
        api_url="http://old.test:25500",
        public_url="http://tv.old.test:8080",
        access_code="adminapi1",
        api_key="old-secret-key",
        m3u_style="playlist",
        epg_style="get_php",
    )
    plan = Plan.objects.create(slug="m", name="M", duration_days=30, price="9.99")
    PlanPanel.objects.create(plan=plan, panel=panel, bouquets=[3, 1], outputs=["ts"])
    customer = old.get_model("customers", "Customer").objects.create(email="c@example.test")
    old.get_model("provisioning", "Line").objects.create(
        customer=customer,
        plan=plan,
        panel=panel,
        username="u1",
        password="p1",
        bouquets=[3, 1],
        outputs=["ts"],
    )
    try:
        new = migrate(AFTER)
        moved = new.get_model("panels", "Panel").objects.get(name="Old")
        assert moved.settings == {
            "access_code": "adminapi1",
            "m3u_style": "playlist",
            "epg_style": "get_php",
        }
        assert moved.secrets == {"api_key": "old-secret-key"}
        with connection.cursor() as cursor:
            cursor.execute("SELECT secrets FROM panels_panel WHERE name = %s", ["Old"])
            (raw,) = cursor.fetchone()
        assert raw.startswith("fernet:") and "old-secret-key" not in raw
        mapping = new.get_model("catalog", "PlanPanel").objects.get().mapping
        assert mapping == {"bouquets": [3, 1], "outputs": ["ts"]}
        line = new.get_model("provisioning", "Line").objects.get()
        assert line.plan_mapping == {"bouquets": [3, 1], "outputs": ["ts"]}

        back = migrate(BEFORE)
        restored = back.get_model("panels", "Panel").objects.get(name="Old")
        assert (restored.access_code, restored.api_key, restored.m3u_style) == (
            "adminapi1",
            "old-secret-key",
            "playlist",
        )
        row = back.get_model("catalog", "PlanPanel").objects.get()
        assert (row.bouquets, row.outputs) == ([3, 1], ["ts"])
        line = back.get_model("provisioning", "Line").objects.get()
        assert (line.bouquets, line.outputs) == ([3, 1], ["ts"])
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
