"""`[[gateway]]` tables in `boxoffice apply` / `export`: the panels' rules for secrets
(`<field>_env`, named for the field, none of the site's own settings), unknown keys refused with
their line, and an exported file applied again changing nothing."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from boxoffice.billing.config_as_code import config_apply, config_export
from boxoffice.billing.gateways.registry import enabled_gateways, gateway_for
from boxoffice.billing.models import GatewayAccount
from boxoffice.catalog.config_as_code import ConfigError

STRIPE = """\
[[gateway]]
kind = "stripe"
enabled = true
position = 1
secret_key_env = "LIVE_STRIPE_SECRET_KEY"
webhook_secret_env = "LIVE_STRIPE_WEBHOOK_SECRET"
"""
MANUAL = """\
[[gateway]]
kind = "manual"
position = 2
label = "Bank transfer (SEPA)"
details = "Demo Streams\\nIBAN DE00 0000"
"""


@pytest.fixture(autouse=True)
def _secrets_in_env(monkeypatch, settings):
    settings.PAYMENT_GATEWAYS_FROM_ENV = False
    monkeypatch.setenv("LIVE_STRIPE_SECRET_KEY", "sk_live_env_1")
    monkeypatch.setenv("LIVE_STRIPE_WEBHOOK_SECRET", "whsec_env_2")


@pytest.mark.django_db
def test_apply_creates_the_gateways_with_secrets_from_the_environment():
    result = config_apply(text=STRIPE + "\n" + MANUAL)
    assert result.created == ["gateway stripe", "gateway manual"]
    stripe = GatewayAccount.objects.get(kind="stripe")
    assert stripe.secrets == {"secret_key": "sk_live_env_1", "webhook_secret": "whsec_env_2"}
    assert gateway_for("manual").config.details == "Demo Streams\nIBAN DE00 0000"
    assert enabled_gateways() == [("stripe", "Card (Stripe)"), ("manual", "Bank transfer (SEPA)")]


@pytest.mark.django_db
def test_an_exported_file_applied_again_changes_nothing_and_holds_no_secret(monkeypatch):
    config_apply(text=STRIPE + "\n" + MANUAL)
    out = config_export()
    assert "sk_live_env_1" not in out and "whsec_env_2" not in out
    assert 'secret_key_env = "GATEWAY_STRIPE_SECRET_KEY"' in out
    assert 'details = "Demo Streams\\nIBAN DE00 0000"' in out
    monkeypatch.setenv("GATEWAY_STRIPE_SECRET_KEY", "sk_live_env_1")
    monkeypatch.setenv("GATEWAY_STRIPE_WEBHOOK_SECRET", "whsec_env_2")
    result = config_apply(text=out)
    assert not result.changed
    assert "gateway stripe" in result.unchanged and "gateway manual" in result.unchanged
    assert config_export() == out


@pytest.mark.django_db
def test_fields_a_table_leaves_out_keep_their_stored_values():
    config_apply(text=STRIPE)
    result = config_apply(text='[[gateway]]\nkind = "stripe"\nenabled = false\n')
    assert result.updated == ["gateway stripe"]
    stripe = GatewayAccount.objects.get()
    assert not stripe.enabled and stripe.secrets["secret_key"] == "sk_live_env_1"


@pytest.mark.django_db
def test_an_unknown_key_is_refused_with_its_line_and_nothing_is_applied():
    text = MANUAL + 'colour = "red"\n'
    with pytest.raises(ConfigError) as exc:
        config_apply(text=STRIPE + "\n" + text)
    assert any(p.startswith("line 13: unknown key 'colour'") for p in exc.value.problems)
    assert not GatewayAccount.objects.exists()


@pytest.mark.django_db
def test_an_unknown_kind_and_a_kind_twice_are_refused():
    with pytest.raises(ConfigError) as exc:
        config_apply(text='[[gateway]]\nkind = "cash"\n\n' + MANUAL + "\n" + MANUAL)
    text = "\n".join(exc.value.problems)
    assert "line 2: kind 'cash' is unknown" in text
    assert "gateway 'manual' is defined twice" in text


@pytest.mark.parametrize("env_name", ["SECRET_KEY", "STRIPE_SECRET_KEY", "DATABASE_URL"])
@pytest.mark.django_db
def test_a_secret_env_may_not_be_one_of_the_sites_own_settings(monkeypatch, env_name):
    monkeypatch.setenv(env_name, "the-sites-own")
    with pytest.raises(ConfigError):
        config_apply(text=f'[[gateway]]\nkind = "stripe"\nsecret_key_env = "{env_name}"\n')
    assert not GatewayAccount.objects.exists()


@pytest.mark.django_db
def test_a_secret_env_must_be_named_for_its_field(monkeypatch):
    monkeypatch.setenv("LIVE_STRIPE_API_KEY", "x")
    with pytest.raises(ConfigError, match="must end in _SECRET_KEY"):
        config_apply(text='[[gateway]]\nkind = "stripe"\nsecret_key_env = "LIVE_STRIPE_API_KEY"\n')


@pytest.mark.django_db
def test_an_unset_env_is_a_clear_error():
    with pytest.raises(ConfigError, match="NOT_SET_SECRET_KEY is not set"):
        config_apply(text='[[gateway]]\nkind = "stripe"\nsecret_key_env = "NOT_SET_SECRET_KEY"\n')


@pytest.mark.django_db
def test_production_refuses_a_file_with_the_emulators_defaults(settings, monkeypatch):
    from boxoffice.lib import local_defaults

    settings.PRODUCTION = True
    monkeypatch.setenv("DEV_STRIPE_SECRET_KEY", local_defaults.STRIPE_SECRET_KEY)
    with pytest.raises(ConfigError, match="local emulator's key"):
        config_apply(text=STRIPE.replace("LIVE_STRIPE_SECRET_KEY", "DEV_STRIPE_SECRET_KEY"))
    assert not GatewayAccount.objects.exists()


@pytest.mark.django_db
def test_the_commands_apply_and_export_gateways_panels_and_plans(tmp_path, capsys):
    path = tmp_path / "site.toml"
    path.write_text(STRIPE, encoding="utf-8")
    call_command("apply", str(path))
    assert "created   gateway stripe" in capsys.readouterr().out
    call_command("apply", str(path))
    assert "nothing to change" in capsys.readouterr().out
    call_command("export")
    assert "[[gateway]]" in capsys.readouterr().out
    path.write_text('[[gateway]]\nkind = "stripe"\nwhat = 1\n', encoding="utf-8")
    with pytest.raises(CommandError, match="line 3: unknown key 'what'"):
        call_command("apply", str(path))
