"""A MAG/Formuler box goes only to a panel whose kind declares it registers devices
(`Capabilities.devices`): routing skips the others, and checkout offers a box only where some
panel carrying the plan can take one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from boxoffice.catalog.models import PlanPanel
from boxoffice.panels.adapters.registry import registered_kind
from boxoffice.panels.models import Panel
from boxoffice.panels.services import NoPanelAvailable, panel_choose, panels_take_devices
from boxoffice.panels.tests.fake_kind.adapter import FakeKindAdapter

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_panel(plan):
    """A panel of a kind without devices, preferred by routing (higher priority)."""
    with registered_kind(FakeKindAdapter):
        assert FakeKindAdapter.capabilities.devices is False
        fake = Panel.objects.create(
            name="No boxes here",
            kind=FakeKindAdapter.kind,
            api_url="http://fake-panel.test:9000",
            public_url="https://watch.fake.test",
            settings={"username": "reseller7"},
            secrets={"password": "fake-secret"},
            priority=10,
        )
        PlanPanel.objects.create(plan=plan, panel=fake, mapping={"package": "sports"})
        yield fake


def test_it_sends_a_box_to_a_panel_that_registers_devices(plan, panel, fake_panel):
    assert panel_choose(plan=plan) == fake_panel  # a plain line: the preferred panel
    assert panel_choose(plan=plan, device="mag") == panel  # a box: the XUI One panel


def test_it_finds_no_panel_for_a_box_when_none_registers_devices(plan, panel, fake_panel):
    panel.enabled = False
    panel.save()

    with pytest.raises(NoPanelAvailable, match="registers MAG/Formuler boxes"):
        panel_choose(plan=plan, device="mag")
    assert panel_choose(plan=plan) == fake_panel


def test_checkout_offers_a_box_only_where_a_panel_can_take_one(client, plan, panel, fake_panel):
    url = reverse("storefront:checkout", args=[plan.slug])
    assert panels_take_devices(plan=plan)
    assert 'name="mac_address"' in client.get(url).content.decode()

    panel.enabled = False
    panel.save()
    assert not panels_take_devices(plan=plan)
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="mac_address"' not in page.content.decode()
