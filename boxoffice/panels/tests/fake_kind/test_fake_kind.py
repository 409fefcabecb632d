"""A panel kind added with one folder and one registry line (here: `registered_kind`, so no
product file lists it): its contract, its admin form, its TOML, and a paid order provisioned
end to end through the normal operation engine."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from boxoffice.billing.services import order_mark_paid
from boxoffice.catalog.config_as_code import ConfigError, config_apply
from boxoffice.catalog.models import PlanPanel
from boxoffice.panels.adapters.contract import PanelAdapterContract
from boxoffice.panels.models import Panel
from boxoffice.panels.tests.fake_kind.adapter import FakeKindAdapter, store_for
from boxoffice.panels.tests.fake_kind.conftest import FAKE_URL
from boxoffice.provisioning.models import Line, PanelOperation
from boxoffice.provisioning.services import line_delete


class TestFakeKindContract(PanelAdapterContract):
    changed_columns = {
        "extend": frozenset({"expires_at"}),
        "change_password": frozenset({"password"}),
        "set_connections": frozenset({"max_connections"}),
        "suspend": frozenset({"enabled"}),
        "resume": frozenset({"enabled"}),
    }

    @pytest.fixture
    def adapter(self) -> Iterator[FakeKindAdapter]:
        config = FakeKindAdapter.config_for(
            api_url=FAKE_URL,
            settings={"username": "reseller7", "password": "fake-secret"},
        )
        yield FakeKindAdapter(config)

    @pytest.fixture
    def faults(self):
        store = store_for(FAKE_URL)
        yield store.set_faults
        store.set_faults("ok")

    @pytest.fixture
    def panel_lines(self):
        return store_for(FAKE_URL).rows


def test_its_config_holds_exactly_its_declared_fields():
    config = FakeKindAdapter.config_for(
        api_url=FAKE_URL, settings={"username": "r", "password": "p"}
    )
    assert dict(config.settings) == {"username": "r", "password": "p"}
    with pytest.raises(
        ValueError, match=r"unknown settings api_key \(allowed: password, username\)"
    ):
        FakeKindAdapter.config_for(api_url=FAKE_URL, settings={"api_key": "x"})


# --- Admin form ------------------------------------------------------------------------------


def test_the_admin_form_shows_and_saves_the_kinds_own_fields(admin_client, db):
    page = admin_client.get("/admin/panels/panel/add/?kind=fake_kind").content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    assert 'name="access_code"' not in page and 'name="api_key"' not in page

    data = {
        "name": "Fake via admin",
        "kind": "fake_kind",
        "enabled": "on",
        "priority": 0,
        "api_url": FAKE_URL,
        "username": "reseller9",
        "password": "fake-secret",
        "verify_tls": "on",
        "timeout_seconds": 10,
        "max_concurrency": 4,
        "public_url": "https://watch.fake.test",
        "capacity": 50,
        "regions": "[]",
        "incidents-TOTAL_FORMS": 0,
        "incidents-INITIAL_FORMS": 0,
        "incidents-MIN_NUM_FORMS": 0,
        "incidents-MAX_NUM_FORMS": 0,
    }
    response = admin_client.post("/admin/panels/panel/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    panel = Panel.objects.get(name="Fake via admin")
    assert panel.settings == {"username": "reseller9"}
    assert panel.secrets == {"password": "fake-secret"}

    change = f"/admin/panels/panel/{panel.pk}/change/"
    page = admin_client.get(change).content.decode()
    assert "fake-secret" not in page  # a secret is never shown back
    response = admin_client.post(change, {**data, "password": "", "username": "reseller10"})
    assert response.status_code == 302
    panel.refresh_from_db()
    assert panel.settings == {"username": "reseller10"}
    assert panel.secrets == {"password": "fake-secret"}  # blank keeps it


def test_the_admin_form_shows_a_missing_required_field_as_an_error(admin_client, db):
    response = admin_client.post(
        "/admin/panels/panel/add/",
        {
            "name": "Fake without login",
            "kind": "fake_kind",
            "api_url": FAKE_URL,
            "timeout_seconds": 10,
            "max_concurrency": 4,
            "public_url": "https://watch.fake.test",
            "capacity": 50,
            "priority": 0,
            "regions": "[]",
            "incidents-TOTAL_FORMS": 0,
            "incidents-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "username is required" in str(errors["username"])
    assert not Panel.objects.filter(name="Fake without login").exists()


# --- TOML ------------------------------------------------------------------------------------

FAKE_TOML = f"""
[[panel]]
name = "Fake panel"
kind = "fake_kind"
api_url = "{FAKE_URL}"
public_url = "https://watch.fake.test"
username = "reseller7"
password_env = "FAKE_PANEL_PASSWORD"

[[plan]]
slug = "sports"
name = "Sports"
duration_days = 30
price = "12.00"

[plan.panels."Fake panel"]
package = "sports"
"""


def test_toml_takes_the_kinds_fields_and_plan_fields(db, monkeypatch):
    monkeypatch.setenv("FAKE_PANEL_PASSWORD", "fake-secret")
    config_apply(text=FAKE_TOML)

    panel = Panel.objects.get(name="Fake panel")
    assert (panel.settings, panel.secrets) == (
        {"username": "reseller7"},
        {"password": "fake-secret"},
    )
    assert PlanPanel.objects.get(panel=panel).mapping == {"package": "sports"}
    assert not config_apply(text=FAKE_TOML).changed


def test_toml_refuses_another_kinds_keys_naming_the_allowed_ones(db, monkeypatch):
    monkeypatch.setenv("FAKE_PANEL_PASSWORD", "fake-secret")
    text = FAKE_TOML.replace('package = "sports"', "bouquets = [1]").replace(
        'username = "reseller7"', 'username = "reseller7"\naccess_code = "x"'
    )
    with pytest.raises(ConfigError) as caught:
        config_apply(text=text)
    message = str(caught.value)
    assert "unknown key 'access_code'" in message and "password_env" in message
    assert "unknown key 'bouquets' (allowed: package)" in message
    assert not Panel.objects.exists()


# --- End to end ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_paid_order_becomes_a_line_whose_mail_shows_the_kinds_access(
    make_order, run_tasks, smtp_inbox
):
    order = make_order()
    order_mark_paid(order=order)
    run_tasks()

    line = Line.objects.get(order=order)
    assert line.status == Line.Status.ACTIVE
    [row] = store_for(FAKE_URL).rows()
    assert (row["username"], row["package"]) == (line.username, "sports")

    [mail] = smtp_inbox.wait_for(1)
    text = html.unescape(mail.get_body(("plain",)).get_content())
    assert "FAKE KIND PORTAL" in text
    assert f"https://watch.fake.test/watch/{line.username}" in text
    assert "Xtream" not in text and "M3U" not in text


@pytest.mark.django_db(transaction=True)
def test_a_delete_on_a_kind_that_cannot_delete_disables_and_expires(make_order, run_tasks):
    order = make_order()
    order_mark_paid(order=order)
    run_tasks()
    line = Line.objects.get(order=order)

    op = line_delete(line=line)
    run_tasks()

    op.refresh_from_db()
    line.refresh_from_db()
    assert op.status == PanelOperation.Status.SUCCEEDED
    assert op.params["done_as"] == "suspend+expire_now"
    assert line.status == Line.Status.CANCELLED
    [row] = store_for(FAKE_URL).rows()
    assert row["enabled"] is False
    assert row["expires_at"] is not None and row["expires_at"] <= op.finished_at


def test_call_command_apply_knows_the_kind(db, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_PANEL_PASSWORD", "fake-secret")
    path = tmp_path / "fake.toml"
    path.write_text(FAKE_TOML)
    call_command("apply", str(path))
    assert Panel.objects.get(name="Fake panel").kind == "fake_kind"
