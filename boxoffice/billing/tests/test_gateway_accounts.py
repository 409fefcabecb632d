"""Payment gateways configured in the back office (GatewayAccount): the config in force, the
admin's write-only secrets, the production refusals, and a gateway enabled from the back office
taking a real payment through the Stripe emulator, its webhook verified with the stored secret."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError

from boxoffice.billing.gateways.registry import (
    enabled_gateways,
    gateway_config,
    gateway_config_problems,
    gateway_for,
    webhook_gateway,
)
from boxoffice.billing.gateways.stripe.adapter import StripeConfig
from boxoffice.billing.models import GatewayAccount, Order
from boxoffice.lib import local_defaults

ADD = "/admin/billing/gatewayaccount/add/"
SECRET_KEY = "sk_live_from_the_back_office_1"
HOOK_SECRET = "whsec_from_the_back_office_2"


@pytest.fixture(autouse=True)
def _no_environment_list(settings):
    # These tests are about the rule without PAYMENT_GATEWAYS in the environment.
    settings.PAYMENT_GATEWAYS_FROM_ENV = False


def stripe_account(**values) -> GatewayAccount:
    account = GatewayAccount(kind="stripe", position=values.pop("position", 0))
    for name, value in values.items():
        account.setting_set(name, value)
    account.full_clean()
    account.save()
    return account


# --- the config in force --------------------------------------------------------------------


@pytest.mark.django_db
def test_it_configures_a_kind_from_settings_when_it_has_no_account(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_env"
    assert gateway_config("stripe") == StripeConfig.from_settings(settings)
    assert [k for k, _ in enabled_gateways()] == settings.PAYMENT_GATEWAYS


@pytest.mark.django_db
def test_it_configures_a_kind_from_its_account_when_it_has_one(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_env"
    stripe_account(secret_key=SECRET_KEY, webhook_secret=HOOK_SECRET)
    config = gateway_for("stripe").config
    assert isinstance(config, StripeConfig)
    assert (config.secret_key, config.webhook_secret, config.api_base) == (
        SECRET_KEY,
        HOOK_SECRET,
        "",
    )


@pytest.mark.django_db
def test_the_enabled_accounts_in_order_are_offered_once_any_exists(settings):
    settings.PAYMENT_GATEWAYS = ["stripe", "manual"]
    GatewayAccount.objects.create(kind="manual", position=2, settings={"details": "IBAN X"})
    GatewayAccount.objects.create(kind="paypal", position=1, label="PayPal or card")
    GatewayAccount.objects.create(kind="stripe", position=0, enabled=False)
    assert enabled_gateways() == [("paypal", "PayPal or card"), ("manual", "Bank transfer")]
    assert webhook_gateway("stripe") is None  # disabled: its notifications are refused
    assert webhook_gateway("paypal") is not None


@pytest.mark.django_db
def test_payment_gateways_in_the_environment_alone_decide_what_is_offered(settings):
    settings.PAYMENT_GATEWAYS_FROM_ENV = True
    settings.PAYMENT_GATEWAYS = ["manual"]
    GatewayAccount.objects.create(kind="stripe")
    assert [k for k, _ in enabled_gateways()] == ["manual"]
    assert webhook_gateway("stripe") is None


@pytest.mark.django_db
def test_no_enabled_account_is_a_production_problem(settings):
    GatewayAccount.objects.create(kind="stripe", enabled=False)
    assert any("No payment gateway is enabled" in p for p in gateway_config_problems(settings))


# --- production -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_production_checks_an_account_with_the_emulators_defaults(settings):
    GatewayAccount.objects.create(kind="manual", settings={"details": "Holder\nIBAN DE00"})
    stripe = GatewayAccount(kind="stripe", position=1)
    stripe.setting_set("secret_key", local_defaults.STRIPE_SECRET_KEY)
    stripe.setting_set("webhook_secret", local_defaults.STRIPE_WEBHOOK_SECRET)
    stripe.setting_set("api_base", "http://127.0.0.1:12111")
    stripe.save()
    problems = gateway_config_problems(settings)
    text = "\n".join(problems)
    assert "Card (Stripe) (back office): STRIPE_SECRET_KEY is the local emulator's" in text
    assert "STRIPE_WEBHOOK_SECRET is the local emulator's" in text
    assert "is not an https:// address" in text
    assert not any("Bank transfer" in p for p in problems)


@pytest.mark.django_db
def test_production_refuses_to_save_an_account_with_emulator_defaults(settings):
    settings.PRODUCTION = True
    account = GatewayAccount(kind="stripe")
    account.setting_set("secret_key", local_defaults.STRIPE_SECRET_KEY)
    with pytest.raises(ValidationError, match="local emulator's key"):
        account.full_clean()
    account.setting_set("secret_key", SECRET_KEY)
    with pytest.raises(ValidationError, match="STRIPE_WEBHOOK_SECRET is not set"):
        account.full_clean()
    account.setting_set("webhook_secret", HOOK_SECRET)
    account.full_clean()  # a live key and a signing secret: accepted


@pytest.mark.django_db
def test_production_admin_shows_the_refusal_and_saves_nothing(admin_client, settings):
    settings.PRODUCTION = True
    response = admin_client.post(
        ADD + "?kind=btcpay",
        {
            "kind": "btcpay",
            "enabled": "on",
            "position": "0",
            "url": "http://127.0.0.1:23000",
            "store_id": local_defaults.BTCPAY_STORE_ID,
            "api_key": "a-real-looking-key",
            "webhook_secret": "a-real-looking-secret",
        },
    )
    assert response.status_code == 200
    assert b"is not an https:// address" in response.content
    assert not GatewayAccount.objects.exists()


# --- the back office ------------------------------------------------------------------------


def _stripe_form(**changes) -> dict:
    data = {
        "kind": "stripe",
        "enabled": "on",
        "position": "0",
        "label": "",
        "secret_key": SECRET_KEY,
        "webhook_secret": HOOK_SECRET,
        "api_base": "",
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_the_admin_creates_an_account_with_its_kinds_fields(admin_client):
    page = admin_client.get(ADD + "?kind=stripe")
    assert b'name="secret_key"' in page.content and b'name="api_base"' in page.content
    response = admin_client.post(ADD + "?kind=stripe", _stripe_form(label="Card"))
    assert response.status_code == 302, response.content.decode()[:3000]
    account = GatewayAccount.objects.get()
    assert account.secrets == {"secret_key": SECRET_KEY, "webhook_secret": HOOK_SECRET}
    assert account.settings == {}
    assert account.label == "Card"


@pytest.mark.django_db
def test_the_admin_keeps_a_secret_left_blank_and_never_shows_it(admin_client):
    account = stripe_account(secret_key=SECRET_KEY, webhook_secret=HOOK_SECRET)
    url = f"/admin/billing/gatewayaccount/{account.pk}/change/"
    page = admin_client.get(url)
    html = page.content.decode()
    assert SECRET_KEY not in html and HOOK_SECRET not in html
    assert "Stored: set" in html
    form = _stripe_form(secret_key="", webhook_secret="whsec_new_3", api_base="")
    form.pop("kind")  # read-only once saved
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    account.refresh_from_db()
    assert account.secrets == {"secret_key": SECRET_KEY, "webhook_secret": "whsec_new_3"}
    assert SECRET_KEY not in admin_client.get(url).content.decode()
    assert SECRET_KEY not in admin_client.get("/admin/billing/gatewayaccount/").content.decode()


@pytest.mark.django_db
def test_the_admin_shows_an_unset_secret_as_not_set(admin_client):
    account = GatewayAccount.objects.create(kind="stripe")
    page = admin_client.get(f"/admin/billing/gatewayaccount/{account.pk}/change/")
    assert "Stored: not set" in page.content.decode()


@pytest.mark.django_db
def test_the_admin_edits_the_bank_details_on_several_lines(admin_client):
    response = admin_client.post(
        ADD + "?kind=manual",
        {"kind": "manual", "enabled": "on", "position": "3", "details": "Demo\r\nIBAN DE00"},
    )
    assert response.status_code == 302
    account = GatewayAccount.objects.get()
    assert (
        "<textarea"
        in admin_client.get(f"/admin/billing/gatewayaccount/{account.pk}/change/").content.decode()
    )
    assert gateway_for("manual").config.details == "Demo\r\nIBAN DE00"


@pytest.mark.django_db
def test_an_unknown_setting_is_refused_by_the_model():
    account = GatewayAccount(kind="stripe", settings={"colour": "red"})
    with pytest.raises(ValidationError, match="no setting colour"):
        account.full_clean()


# --- secrets stay out of reprs and logs -----------------------------------------------------


@pytest.mark.django_db
def test_secrets_are_in_no_repr_and_no_log_line(caplog, settings):
    account = stripe_account(secret_key=SECRET_KEY, webhook_secret=HOOK_SECRET)
    settings.PRODUCTION = False
    with caplog.at_level(logging.DEBUG):
        adapter = gateway_for("stripe")
        logging.getLogger("test").info("account %r config %r", account.account(), adapter.config)
        gateway_config_problems(settings)
    text = caplog.text + repr(account.account()) + repr(adapter.config) + repr(account)
    assert SECRET_KEY not in text and HOOK_SECRET not in text


@pytest.mark.django_db
def test_secrets_are_encrypted_at_rest():
    from django.db import connection

    account = stripe_account(secret_key=SECRET_KEY, webhook_secret=HOOK_SECRET)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM billing_gatewayaccount WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("fernet:") and SECRET_KEY not in stored


# --- end to end: enabled in the back office, paid through the emulator ----------------------


@pytest.mark.django_db(transaction=True)
def test_a_gateway_enabled_in_the_back_office_takes_a_payment_verified_with_its_stored_secret(
    client, live_server, settings, plan, stripe_emulator, run_tasks
):
    settings.SITE_URL = live_server.url
    # The environment knows nothing of Stripe and offers only bank transfers...
    settings.PAYMENT_GATEWAYS = ["manual"]
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing answers here
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_not_the_emulators"
    # ...the back office enables Stripe with the emulator's key and signing secret.
    stripe_account(
        secret_key=stripe_emulator.api_key,
        webhook_secret=stripe_emulator.webhook_secret,
        api_base=stripe_emulator.base_url,
    )
    stripe_emulator.configure(webhook_url=f"{live_server.url}/billing/webhooks/stripe/")

    page = client.get(f"/checkout/{plan.slug}/")
    assert b'value="stripe"' in page.content
    response = client.post(
        f"/checkout/{plan.slug}/",
        {
            "email": "new@example.test",
            "name": "New Customer",
            "device": "app",
            "country": "DE",
            "gateway": "stripe",
        },
    )
    assert response.status_code == 303
    order = Order.objects.get()
    stripe_emulator.pay(order.gateway_reference)
    stripe_emulator.wait_for_deliveries()
    run_tasks()

    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    # The delivery was verified with the stored secret: one signed with the environment's is not.
    forged = client.post(
        "/billing/webhooks/stripe/",
        data=b'{"id": "evt_forged", "type": "checkout.session.completed"}',
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=" + "0" * 64,
    )
    assert forged.status_code == 400


@pytest.mark.django_db
def test_view_only_staff_sees_no_secret_and_cannot_post(client):
    from django.contrib.auth.models import Permission, User

    account = stripe_account(secret_key=SECRET_KEY, webhook_secret=HOOK_SECRET)
    user = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_gatewayaccount"))
    client.force_login(user)
    url = f"/admin/billing/gatewayaccount/{account.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert SECRET_KEY not in page.content.decode() and HOOK_SECRET not in page.content.decode()
    response = client.post(url, {"enabled": "on", "position": "0", "secret_key": "sk_evil"})
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.secrets["secret_key"] == SECRET_KEY


@pytest.mark.django_db
def test_a_bad_address_in_the_admin_is_a_form_error_not_a_500(admin_client):
    response = admin_client.post(ADD + "?kind=stripe", _stripe_form(api_base="not a url"))
    assert response.status_code == 200
    assert not GatewayAccount.objects.exists()
