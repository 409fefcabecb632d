"""The welcome sequence in the back office: open and click rates per template and step, how
many lines got which day-1 variant, and a preview of every welcome mail (both variants)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import render

from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.selectors import (
    WELCOME_TEMPLATES,
    welcome_rates_by_step,
    welcome_rates_by_template,
    welcome_step_counts,
)
from boxoffice.provisioning.welcome_emails import welcome_preview_render

TEMPLATE_LABELS = dict(WELCOME_TEMPLATES)


@staff_member_required
def welcome_report(request):
    counts = welcome_step_counts()
    return render(
        request,
        "insights/welcome_report.html",
        {
            "title": "Welcome sequence",
            "by_template": welcome_rates_by_template(),
            "by_step": [
                {"rates": rates, "counts": counts.get(rates.key, {})}
                for rates in welcome_rates_by_step()
            ],
            "templates": WELCOME_TEMPLATES,
        },
    )


def _sample_line() -> Line:
    """Sample data for a preview (never saved): the newest line's plan where there is one."""
    plan = Plan.objects.filter(active=True, is_trial=False).order_by("sort_order", "pk").first()
    if plan is None:
        plan = Plan(name="Monthly", duration_days=30, connections=2, price=0, currency="EUR")
    customer = Customer(pk=0, email="customer@example.com", name="Alex")
    return Line(
        pk=0,
        customer=customer,
        plan=plan,
        username="alex_tv",
        connections=plan.connections,
        status=Line.Status.ACTIVE,
    )


@staff_member_required
def welcome_preview(request, kind: str):
    if kind not in TEMPLATE_LABELS:
        raise Http404("no such welcome mail")
    rendered = welcome_preview_render(line=_sample_line(), kind=kind)
    return render(
        request,
        "insights/welcome_preview.html",
        {
            "title": f"Preview: {TEMPLATE_LABELS[kind]}",
            "kind": kind,
            "templates": WELCOME_TEMPLATES,
            "rendered": rendered,
        },
    )
