"""Field encryption: secrets at rest, keys rotated without a flag day."""

from __future__ import annotations

import pytest
from django.db import connection

from boxoffice.lib.crypto import PREFIX, _fernet, decrypt_str, encrypt_str, generate_key
from boxoffice.panels.models import Panel


@pytest.fixture
def old_key(settings):
    key = generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [key]
    yield key
    _fernet.cache_clear()


def test_it_round_trips_a_value():
    token = encrypt_str("s3cret ✓")

    assert token.startswith(PREFIX)
    assert "s3cret" not in token
    assert decrypt_str(token) == "s3cret ✓"


def test_it_encrypts_the_same_value_differently_each_time():
    assert encrypt_str("same") != encrypt_str("same")


def test_it_decrypts_values_written_with_an_old_key_after_rotation(settings, old_key):
    token = encrypt_str("written before rotation")
    new_key = generate_key()

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    assert decrypt_str(token) == "written before rotation"
    fresh = encrypt_str("written after rotation")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # new values use the first key
    assert decrypt_str(fresh) == "written after rotation"


def test_it_says_clearly_when_no_key_fits(settings, old_key):
    token = encrypt_str("lost")

    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]

    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEYS does not hold the key"):
        decrypt_str(token)


def test_it_refuses_a_value_that_is_not_a_token():
    with pytest.raises(ValueError, match="not an encrypted token"):
        decrypt_str("plain text")


def test_it_names_the_setting_when_a_key_is_malformed(settings, old_key):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]

    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEYS"):
        encrypt_str("anything")


def test_it_names_the_setting_when_no_key_is_configured(settings, old_key):
    settings.FIELD_ENCRYPTION_KEYS = []

    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEYS"):
        encrypt_str("anything")


def test_it_stores_model_fields_encrypted(db):
    panel = Panel.objects.create(
        name="P",
        kind="xui_one",
        api_url="http://127.0.0.1:8100",
        public_url="http://127.0.0.1:8100",
        secrets={"api_key": "raw-api-key"},
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM panels_panel WHERE id = %s", [panel.pk])
        (raw,) = cursor.fetchone()
    assert raw.startswith(PREFIX)
    assert "raw-api-key" not in raw
    assert Panel.objects.get(pk=panel.pk).secrets == {"api_key": "raw-api-key"}


def test_it_leaves_empty_values_empty(db):
    panel = Panel.objects.create(
        name="P", kind="xui_one", api_url="http://127.0.0.1:8100", public_url="http://x.test"
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM panels_panel WHERE id = %s", [panel.pk])
        (raw,) = cursor.fetchone()
    assert raw == ""
    assert Panel.objects.get(pk=panel.pk).secrets == {}
