"""A Ministra and a OneStream panel as code (`boxoffice apply`): their declared fields, secrets
from the environment, plan mappings onto a tariff and a package, and a wrong mapping refused."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from boxoffice.catalog.models import PlanPanel
from boxoffice.panels.models import Panel

CATALOGUE = """\
[[panel]]
name = "Stalker"
kind = "ministra"
api_url = "http://127.0.0.1:9301"
public_url = "http://tv.example.test"
api_login = "billing"
api_password_env = "STALKER_API_PASSWORD"
timezone = "Europe/Berlin"

[[panel]]
name = "OneStream"
kind = "onestream"
api_url = "https://os.example.test"
public_url = "http://os-tv.example.test"
api_key_env = "ONESTREAM_API_KEY"
auth_user_env = "ONESTREAM_AUTH_USER"
low_credits = 20

[[plan]]
slug = "box"
name = "Box"
duration_days = 30
price = "9.99"

[plan.panels."Stalker"]
tariff_plan = "premium"

[plan.panels."OneStream"]
package = 2
"""


def _apply(tmp_path, text: str) -> str:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("apply", str(path), stdout=out)
    return out.getvalue()


@pytest.fixture
def secrets_env(monkeypatch):
    monkeypatch.setenv("STALKER_API_PASSWORD", "stalker-secret")
    monkeypatch.setenv("ONESTREAM_API_KEY", "os-key")
    monkeypatch.setenv("ONESTREAM_AUTH_USER", "os-user")


def test_it_applies_ministra_and_onestream_panels_and_their_mappings(db, tmp_path, secrets_env):
    _apply(tmp_path, CATALOGUE)

    stalker = Panel.objects.get(name="Stalker")
    assert stalker.settings["timezone"] == "Europe/Berlin"
    assert stalker.secrets == {"api_password": "stalker-secret"}
    assert stalker.adapter_config().settings["api_path"] == "/stalker_portal/api/"
    onestream = Panel.objects.get(name="OneStream")
    assert onestream.secrets == {"api_key": "os-key", "auth_user": "os-user"}
    assert PlanPanel.objects.get(panel=stalker).mapping == {"tariff_plan": "premium"}
    assert PlanPanel.objects.get(panel=onestream).mapping == {"package": 2}


def test_it_refuses_a_ministra_plan_mapped_to_bouquets(db, tmp_path, secrets_env):
    wrong = CATALOGUE.replace('tariff_plan = "premium"', "bouquets = [1, 2]")
    with pytest.raises(CommandError) as refused:
        _apply(tmp_path, wrong)
    assert "bouquets" in str(refused.value)
    assert not Panel.objects.exists()
