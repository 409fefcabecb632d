"""The kind's declared fields reach `boxoffice apply` and the back-office panel form."""

from __future__ import annotations

import pytest

from boxoffice.catalog.config_as_code import ConfigError, config_apply
from boxoffice.catalog.models import PlanPanel
from boxoffice.panels.models import Panel

TOML = """
[[panel]]
name = "XC main"
kind = "xtream_ui"
api_url = "http://panel.example.test:25461"
public_url = "http://tv.example.test:25461"
api_pass_env = "XC_API_PASS"
member_id = 7

[[plan]]
slug = "xc"
name = "XC"
duration_days = 30
price = "9.00"

[plan.panels."XC main"]
bouquets = [2, 5]
"""


def test_apply_takes_its_fields_and_keeps_the_api_pass_encrypted(db, monkeypatch):
    monkeypatch.setenv("XC_API_PASS", "pass-from-env")
    config_apply(text=TOML)

    panel = Panel.objects.get(name="XC main")
    assert panel.secrets == {"api_pass": "pass-from-env"}
    assert panel.settings == {"member_id": 7, "api_path": "/api.php"}
    assert PlanPanel.objects.get(panel=panel).mapping == {"bouquets": [2, 5]}
    assert panel.adapter_config().api_pass == "pass-from-env"


def test_apply_refuses_a_mapping_key_the_kind_does_not_have(db, monkeypatch):
    monkeypatch.setenv("XC_API_PASS", "pass-from-env")
    with pytest.raises(ConfigError, match="outputs"):
        config_apply(text=TOML.replace("bouquets = [2, 5]", 'outputs = ["ts"]'))
    assert not Panel.objects.exists()


def test_apply_refuses_nxt_while_it_is_not_enabled(db, settings):
    settings.BOXOFFICE_EXPERIMENTAL_PANEL_KINDS = []
    nxt = TOML.replace('kind = "xtream_ui"', 'kind = "nxt"')
    with pytest.raises(ConfigError, match="nxt"):
        config_apply(text=nxt)


def test_the_panel_form_shows_its_fields_and_never_the_pass(admin_client, db):
    page = admin_client.get("/admin/panels/panel/add/?kind=xtream_ui").content.decode()
    for name in ("api_pass", "member_id", "api_path"):
        assert f'name="{name}"' in page
    assert 'name="access_code"' not in page
