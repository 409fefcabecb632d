"""What a security review of "A house that grows" found, each kept as a test of the fix
(F1-F10: a TOML `<secret>_env` copying the site's own secrets to a panel URL, undecryptable
secrets turning pages into 500s, unchecked regions, a raising signal receiver failing a probe,
secrets in reprs, a non-UTF-8 file, colliding export names, a raising stale check leaving a mail
unrecorded, a retired panel kind breaking the portal); the rest pin down places that were checked
and found sound."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from boxoffice.catalog.config_as_code import ConfigError, config_apply, config_export
from boxoffice.panels.models import Panel

PANEL = """\
[[panel]]
name = "P"
kind = "xui_one"
api_url = "http://127.0.0.1:8200"
public_url = "http://127.0.0.1:8200"
"""


# --- F1: `<secret>_env` reads ANY environment variable ----------------------------------------


@pytest.mark.parametrize("env_name", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL"])
def test_f1_secret_env_cannot_name_the_sites_own_secrets(db, monkeypatch, env_name):
    # In production these variables are set (settings require them); the file needs no more
    # than `api_key_env = "SECRET_KEY"` to copy the site's secret into the panel's API key,
    # which the adapter then sends to api_url (a host the file also chooses) on every call.
    monkeypatch.setenv(env_name, "the-sites-own-secret")
    text = PANEL + f'api_key_env = "{env_name}"\n'
    with pytest.raises(ConfigError):
        config_apply(text=text)
    assert not Panel.objects.exists()


def test_f1_the_sites_secret_never_reaches_the_url_a_file_chose(db, monkeypatch):
    """The attack end to end: a file naming SECRET_KEY for a panel's API key, with a capture
    server of its own as the panel. The file is refused, nothing is saved, nothing is sent."""
    import http.server
    import threading

    seen: list[str] = []

    class Capture(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status": "STATUS_SUCCESS", "data": {"username": "x"}}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SECRET_KEY", settings.SECRET_KEY)
        url = f"http://127.0.0.1:{server.server_port}"
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            config_apply(
                text=PANEL.replace("http://127.0.0.1:8200", url)
                + 'access_code = "x"\napi_key_env = "SECRET_KEY"\n'
            )
    finally:
        server.shutdown()
        server.server_close()
    assert not Panel.objects.exists()
    assert seen == []


def test_f1_a_variable_named_for_the_field_is_taken(db, monkeypatch):
    monkeypatch.setenv("MY_PANEL_API_KEY", "k-from-env")
    config_apply(text=PANEL + 'api_key_env = "MY_PANEL_API_KEY"\n')
    assert Panel.objects.get().secrets["api_key"] == "k-from-env"


# --- F2: a wrong FIELD_ENCRYPTION_KEYS turns every page that loads a panel into a 500 -----------


def test_f2_panel_list_survives_a_rotated_away_key(admin_client, db, settings):
    config_apply(text=PANEL + 'api_key = "k-123"\n')
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key lost
    admin_client.raise_request_exception = False
    response = admin_client.get("/admin/panels/panel/")
    assert response.status_code == 200


def test_f2_export_survives_a_rotated_away_key(db, settings):
    # Export writes no secret values at all, yet loading the row decrypts Panel.secrets.
    config_apply(text=PANEL + 'api_key = "k-123"\n')
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert "api_key_env" in config_export()


def test_f2_checkout_survives_a_rotated_away_key(client, db, settings, plan):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    client.raise_request_exception = False
    assert client.get(f"/checkout/{plan.slug}/").status_code == 200


# --- F3: TOML `regions` items are not checked (any JSON is stored) -----------------------------


@pytest.mark.parametrize("regions", ["[{a = 1}]", "[1, 2]", '[["DE"]]'])
def test_f3_regions_must_be_a_list_of_codes(db, regions):
    with pytest.raises(ConfigError):
        config_apply(text=PANEL + f"regions = {regions}\n")
    assert not Panel.objects.exists()


@pytest.mark.parametrize(
    "line",
    ["capacity = [1]", "timeout_seconds = {a = 1}", "api_url = 5", "enabled = [true]"],
)
def test_other_bad_types_are_config_errors(db, line):
    with pytest.raises(ConfigError):
        config_apply(text=PANEL + line + "\n")
    assert not Panel.objects.exists()


# --- F4: a panel_back_up receiver that raises turns a successful probe into a failure -----------


def test_f4_a_failing_receiver_does_not_count_as_a_failed_probe(panel, xui_emulator):
    from boxoffice.panels.signals import panel_back_up
    from boxoffice.provisioning.reconcile import panel_probe_and_drain

    Panel.objects.filter(pk=panel.pk).update(health=Panel.Health.DOWN, consecutive_failures=3)

    def broken_receiver(**_kw):
        raise RuntimeError("a receiver bug")

    panel_back_up.connect(broken_receiver, dispatch_uid="review-broken")
    try:
        result = panel_probe_and_drain(panel_id=panel.pk)
    finally:
        panel_back_up.disconnect(dispatch_uid="review-broken")
    panel.refresh_from_db()
    # The panel answered: the probe is "up" and nothing says it failed.
    assert (result, panel.consecutive_failures, panel.last_error) == (
        "up, its queue released",
        0,
        "",
    )


# --- F5: the secret fields are not CSRF/permission special, checked: view-only staff ----------


def test_view_only_staff_sees_no_secret_and_cannot_post(client, db, panel):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_panel"))
    client.force_login(user)
    url = f"/admin/panels/panel/{panel.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert "test-api-key" not in page.content.decode()
    response = client.post(url, {"name": "renamed", "kind": "xui_one", "api_key": "evil"})
    assert response.status_code == 403
    panel.refresh_from_db()
    assert panel.secrets == {"api_key": "test-api-key"}


def test_admin_post_without_csrf_token_is_refused(db, panel):
    from django.contrib.auth.models import User
    from django.test import Client

    User.objects.create_superuser("root", "r@x.test", "pw-root-1")
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.login(username="root", password="pw-root-1")
    response = csrf_client.post(f"/admin/panels/panel/{panel.pk}/change/", {"api_key": "evil"})
    assert response.status_code == 403


# --- F6: PanelConfig's repr carries the decrypted API key (gateway configs hide theirs) -------


def test_f6_panel_config_repr_hides_the_api_key(panel):
    config = panel.adapter_config()
    assert config.api_key == "test-api-key"
    assert "test-api-key" not in repr(config)


def test_f6_line_facts_repr_hides_the_password():
    from boxoffice.panels.adapters.base import LineFacts

    assert "pw-Secret-9" not in repr(LineFacts(username="u1234", password="pw-Secret-9"))


def test_gateway_config_repr_hides_its_secrets(settings):
    from boxoffice.billing.gateways.stripe.adapter import StripeConfig

    settings.STRIPE_SECRET_KEY = "sk_live_hidden_1"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_hidden_2"
    text = repr(StripeConfig.from_settings(settings))
    assert "sk_live_hidden_1" not in text
    assert "whsec_hidden_2" not in text


# --- F7: `boxoffice apply` on a file that is not UTF-8 ends in a traceback ---------------------


def test_f7_apply_a_binary_file_is_a_command_error(db, tmp_path):
    from django.core.management import CommandError, call_command

    bad = tmp_path / "panels.toml"
    bad.write_bytes(b'[[panel]]\nname = "\xff\xfe"\n')
    with pytest.raises(CommandError):
        call_command("apply", str(bad))


# --- F8: export gives two panels the same secret variable -------------------------------------


@pytest.mark.parametrize(("a", "b"), [("Panel A", "panel-a"), ("Пульт", "Ωλ")])
def test_f8_export_names_each_panels_secret_variable_apart(db, a, b):
    for name in (a, b):
        config_apply(text=PANEL.replace('"P"', f'"{name}"') + f'api_key = "key-of-{name}"\n')
    names = [line for line in config_export().splitlines() if line.startswith("api_key_env")]
    assert len(set(names)) == 2, names


# --- F9: a stale check that raises leaves the mail SENDING with no error recorded ---------------


def test_f9_a_raising_stale_check_ends_in_a_recorded_state(db):
    from boxoffice.messaging import services as messaging
    from boxoffice.messaging.models import Message

    def broken_check(message):
        raise RuntimeError("a check bug")

    messaging.stale_check_register("review_probe")(broken_check)
    try:
        message, _ = messaging.message_create(
            kind="review_probe", to_email="c@example.test", subject="s", body_text="b"
        )
        try:
            messaging.message_send(message_id=message.pk)
        except RuntimeError:
            pass
    finally:
        messaging._STALE_CHECKS.pop("review_probe", None)
    message.refresh_from_db()
    assert message.status != Message.Status.SENDING or message.last_error, (
        message.status,
        message.last_error,
    )


# --- F10: a customer's portal page 500s when the line's panel kind is no longer registered -----


def test_f10_portal_survives_a_panel_of_a_retired_kind(client, panel, plan):
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from boxoffice.customers.models import Customer
    from boxoffice.provisioning.models import Line

    user = get_user_model().objects.create_user(
        username="o@example.test", email="o@example.test", password="pw 12345 abc"
    )
    owner = Customer.objects.create(email="o@example.test", user=user)
    Line.objects.create(
        customer=owner,
        plan=plan,
        panel=panel,
        username="owner1",
        password="owner1-pw",
        status=Line.Status.ACTIVE,
        expires_at=timezone.now() + timedelta(days=30),
    )
    client.force_login(user)
    assert client.get("/portal/").status_code == 200  # the kind is known: fine
    Panel.objects.filter(pk=panel.pk).update(kind="retired_kind")
    client.raise_request_exception = False
    assert client.get("/portal/").status_code == 200


# --- checked and sound -----------------------------------------------------------------------


def test_export_never_writes_a_secret_value(db):
    config_apply(text=PANEL + 'api_key = "k-very-secret"\n')
    out = config_export()
    assert "k-very-secret" not in out
    assert 'api_key_env = "P_API_KEY"' in out


def test_unset_env_is_a_clear_error_and_nothing_is_applied(db, monkeypatch):
    monkeypatch.delenv("NOPE_NOT_SET_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="NOPE_NOT_SET_API_KEY is not set"):
        config_apply(text=PANEL + 'api_key_env = "NOPE_NOT_SET_API_KEY"\n')
    assert not Panel.objects.exists()


def test_admin_unknown_kind_in_query_or_post_is_no_500(admin_client, db):
    assert admin_client.get("/admin/panels/panel/add/?kind=<script>").status_code == 200
    response = admin_client.post("/admin/panels/panel/add/", {"name": "x", "kind": "../../x"})
    assert response.status_code == 200
    assert "kind" in response.context["adminform"].form.errors


def test_webhook_for_unknown_disabled_or_odd_kind(client, db, settings):
    settings.PAYMENT_GATEWAYS = ["manual"]
    assert client.post("/billing/webhooks/stripe/", b"{}", "application/json").status_code == 404
    assert client.post("/billing/webhooks/nope/", b"{}", "application/json").status_code == 404
    assert client.post("/billing/webhooks/__init__/", b"{}", "application/json").status_code == 404
    assert client.post("/billing/webhooks/manual/", b"{}", "application/json").status_code == 400


def test_dev_tools_off_in_this_settings_module_when_production_flag_set():
    # settings.DEV_TOOLS is computed from BOXOFFICE_ENV at import; the production run itself
    # is covered by test_production (own process).
    assert settings.DEV_TOOLS_APP == "boxoffice_dev"


def test_checkout_refuses_a_gateway_that_is_not_enabled(client, plan, settings):
    from boxoffice.billing.models import Order

    settings.PAYMENT_GATEWAYS = ["stripe"]
    response = client.post(
        f"/checkout/{plan.slug}/",
        {
            "email": "a@example.test",
            "name": "A",
            "country": "DE",
            "device": "app",
            "gateway": "manual",
        },
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["gateway"]
    assert not Order.objects.exists()


def test_bank_transfer_instructions_are_escaped_on_the_status_page(client, plan, settings):
    from boxoffice.billing.models import Order

    settings.PAYMENT_GATEWAYS = ["manual"]
    settings.BANK_TRANSFER_DETAILS = "<script>alert(1)</script>\nIBAN X"
    response = client.post(
        f"/checkout/{plan.slug}/",
        {
            "email": "b@example.test",
            "name": "B",
            "country": "DE",
            "device": "app",
            "gateway": "manual",
        },
    )
    assert response.status_code in (302, 303)
    page = client.get(response["Location"]).content.decode()
    assert Order.objects.count() == 1
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
