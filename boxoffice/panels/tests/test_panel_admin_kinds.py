"""The panel admin form takes its kind-specific fields from the kind's declared config fields."""

from __future__ import annotations

import pytest

from boxoffice.panels.models import Panel

ADD = "/admin/panels/panel/add/"


def form_data(**changes):
    data = {
        "name": "Panel A",
        "kind": "xui_one",
        "enabled": "on",
        "priority": 0,
        "api_url": "http://panel-a.test:25500",
        "access_code": "adminapi1",
        "api_key": "key-A-123",
        "verify_tls": "on",
        "timeout_seconds": 10,
        "max_concurrency": 4,
        "public_url": "http://tv-a.test:8080",
        "m3u_style": "playlist",
        "epg_style": "get_php",
        "capacity": 50,
        "regions": "[]",
        "incidents-TOTAL_FORMS": 0,
        "incidents-INITIAL_FORMS": 0,
        "incidents-MIN_NUM_FORMS": 0,
        "incidents-MAX_NUM_FORMS": 0,
    }
    data.update(changes)
    return data


def test_the_add_page_groups_the_kinds_own_fields(admin_client, db):
    page = admin_client.get(ADD).content.decode()
    assert "XUI One settings" in page
    for name in ("access_code", "api_key", "m3u_style", "epg_style"):
        assert f'name="{name}"' in page


def test_it_saves_the_kinds_fields_into_settings_and_secrets(admin_client, db):
    response = admin_client.post(ADD, form_data())
    assert response.status_code == 302, response.context["adminform"].form.errors
    panel = Panel.objects.get(name="Panel A")
    assert panel.settings == {
        "access_code": "adminapi1",
        "m3u_style": "playlist",
        "epg_style": "get_php",
    }
    assert panel.secrets == {"api_key": "key-A-123"}
    assert panel.adapter_config().api_key == "key-A-123"
    page = admin_client.get(f"/admin/panels/panel/{panel.pk}/change/").content.decode()
    assert "key-A-123" not in page
    assert 'value="adminapi1"' in page  # plain settings are shown back


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"m3u_style": "mp4"}, "m3u_style"),
        ({"kind": "xtream_two"}, "kind"),
    ],
)
def test_it_shows_a_bad_value_on_the_form_without_saving(admin_client, db, changes, field):
    response = admin_client.post(ADD, form_data(**changes))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Panel.objects.exists()
