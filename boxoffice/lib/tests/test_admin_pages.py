"""Every back-office page renders for a superuser, and secrets never reach the HTML."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from boxoffice.audit.models import AuditEvent
from boxoffice.billing.models import (
    BusinessDetails,
    Coupon,
    GatewayAccount,
    Subscription,
    TaxRate,
    TrialClaim,
    WebhookEvent,
)
from boxoffice.billing.services import order_create, order_mark_paid
from boxoffice.catalog.models import Plan, PlanPanel, PlanPrice
from boxoffice.customers.models import Customer
from boxoffice.messaging.models import AddressStatus, MailTemplate, Message
from boxoffice.panels.models import Incident, Panel
from boxoffice.provisioning.models import (
    Line,
    LineDrift,
    OnboardingSettings,
    PanelOperation,
    ReassignmentJob,
    SaleBlock,
    WorkerHeartbeat,
)
from boxoffice.provisioning.onboarding import onboarding_schedule
from boxoffice.provisioning.tasks import run_panel_operation

API_KEY = "pk-Secret-4f9a7c2e"
LINE_PASSWORD = "LinePw7rQx3z"


@pytest.fixture
def rows(db):
    """One row of every model the back office shows."""
    panel = Panel.objects.create(
        name="Main panel",
        kind="xui_one",
        api_url="http://127.0.0.1:8100",
        public_url="http://127.0.0.1:8100",
        settings={"access_code": "adminapi1"},
        secrets={"api_key": API_KEY},
    )
    plan = Plan.objects.create(
        slug="monthly", name="Monthly", duration_days=30, price=Decimal("9.99")
    )
    PlanPanel.objects.create(plan=plan, panel=panel, mapping={"bouquets": [1], "outputs": ["ts"]})
    PlanPrice.objects.create(plan=plan, currency="GBP", amount=Decimal("8.49"))
    BusinessDetails.objects.create(pk=1, legal_name="Demo Streams", address="1 Street")
    TaxRate.objects.create(country="DE", rate=Decimal("19"))
    Coupon.objects.create(code="JANE10", kind="percent", value=Decimal("10"))
    customer = Customer.objects.create(email="jane@example.test", name="Jane", country="DE")
    paid = order_create(customer=customer, plan=plan, gateway="manual")
    order_mark_paid(order=paid, gateway_payment_id="pay_1")  # its invoice
    order = order_create(customer=customer, plan=plan, gateway="manual")
    line = Line.objects.create(
        customer=customer,
        plan=plan,
        order=order,
        panel=panel,
        username="janedoe1234",
        password=LINE_PASSWORD,
    )
    operation = PanelOperation.objects.create(
        line=line, panel=panel, order=order, kind=PanelOperation.Kind.CREATE
    )
    message = Message.objects.create(
        kind="credentials",
        to_email=customer.email,
        subject="Your TV login",
        body_text=f"Username janedoe1234, password {LINE_PASSWORD}",
        body_html=f"<p>password <b>{LINE_PASSWORD}</b></p>",
        customer=customer,
        order=order,
        line=line,
    )
    WebhookEvent.objects.create(
        gateway="stripe", event_id="evt_1", event_type="checkout.session.completed", payload={}
    )
    Incident.objects.create(panel=panel, kind=Incident.Kind.PANEL_DOWN, summary="timeout")
    TrialClaim.objects.create(kind=TrialClaim.Kind.EMAIL, value=customer.email, order=order)
    Subscription.objects.create(
        gateway="stripe",
        gateway_subscription_id="sub_1",
        customer=customer,
        plan=plan,
        order=order,
        line=line,
        status="active",
    )
    assert AuditEvent.objects.exists()  # order_create wrote one
    GatewayAccount.objects.create(kind="stripe", secrets={"secret_key": "sk_live_x"})
    Group.objects.create(name="Operators")
    MailTemplate.objects.create(
        name="billing/email/payment_pending", language="en", subject="S", html="h", text="t"
    )
    AddressStatus.objects.create(
        address=customer.email, suppressed_at=timezone.now(), reason="bounced", esp="Postmark"
    )
    WorkerHeartbeat.objects.create(worker_id="host-1", host="host", pid=1, threads_total=4)
    OnboardingSettings.objects.create(pk=1, community_url="https://forum.example.test/")
    onboarding_schedule(line=line)  # its welcome steps and activity row
    LineDrift.objects.create(
        panel=panel, line=line, panel_line_id="7", username=line.username, kind="connections"
    )
    ReassignmentJob.objects.create(from_panel=panel, total=1)
    SaleBlock.objects.create(plan=plan, scope="DE:app", detail="full")
    run_panel_operation.enqueue(operation.pk)  # a task row in the database queue
    return {"panel": panel, "line": line, "message": message}


def change_url(obj) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def _registered(label: str):
    """The model registered in the admin under `label`, and its ModelAdmin, looked up when the
    test runs (a test elsewhere may have swapped INSTALLED_APPS and back, which builds the
    registry anew)."""
    return next((m, a) for m, a in admin.site._registry.items() if m._meta.label_lower == label)


@pytest.mark.parametrize("label", [m._meta.label_lower for m in admin.site._registry])
def test_it_renders_every_admin_page(admin_client, rows, label):
    model, model_admin = _registered(label)
    meta = model._meta
    changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")

    response = admin_client.get(changelist)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    obj = model._default_manager.first()
    assert admin_client.get(change_url(obj)).status_code == 200
    if model_admin.search_fields:
        assert admin_client.get(changelist, {"q": "jane"}).status_code == 200
    add = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    assert add.status_code == (200 if model_admin.has_add_permission(add.wsgi_request) else 403)


def test_it_never_shows_the_panel_api_key(admin_client, rows):
    page = admin_client.get(change_url(rows["panel"])).content.decode()

    assert "Main panel" in page
    assert API_KEY not in page


@pytest.mark.parametrize("name", ["line", "message"])
def test_it_never_shows_the_line_password(admin_client, rows, name):
    response = admin_client.get(change_url(rows[name]))

    assert response.status_code == 200
    assert LINE_PASSWORD not in response.content.decode()


def test_it_keeps_the_panel_api_key_when_the_form_leaves_it_empty(admin_client, rows):
    panel = rows["panel"]
    data = {
        "name": panel.name,
        "kind": panel.kind,
        "enabled": "on",
        "priority": 0,
        "api_url": panel.api_url,
        "access_code": panel.settings["access_code"],
        "api_key": "",
        "verify_tls": "on",
        "timeout_seconds": 10,
        "max_concurrency": 4,
        "public_url": panel.public_url,
        "m3u_style": "get_php",
        "epg_style": "get_php",
        "capacity": 50,
        "regions": "[]",
        "incidents-TOTAL_FORMS": 1,
        "incidents-INITIAL_FORMS": 1,
        "incidents-MIN_NUM_FORMS": 0,
        "incidents-MAX_NUM_FORMS": 0,
        "incidents-0-id": panel.incidents.get().pk,
        "incidents-0-panel": panel.pk,
    }

    response = admin_client.post(change_url(panel), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    panel.refresh_from_db()
    assert panel.capacity == 50
    assert panel.secrets["api_key"] == API_KEY


def test_it_lands_an_operator_in_the_back_office_after_a_plain_login(client, db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(
        username="ops@operator.test", password="staff pass 42", is_staff=True
    )

    response = client.post(
        "/admin/login/", {"username": "ops@operator.test", "password": "staff pass 42"}
    )

    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_it_answers_the_favicon_request_of_every_page(client, db):
    response = client.get("/favicon.ico", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[0][0].endswith("/boxoffice/favicon.svg")
