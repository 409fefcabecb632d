from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from boxoffice.catalog.models import Plan
from boxoffice.storefront.selectors import duration_in_words


def _plan(slug: str, **kwargs) -> Plan:
    kwargs.setdefault("name", slug.title())
    kwargs.setdefault("duration_days", 30)
    kwargs.setdefault("price", Decimal("9.99"))
    return Plan.objects.create(slug=slug, **kwargs)


@pytest.mark.django_db
def test_it_lists_active_plans_only(client):
    _plan("monthly", name="Monthly", connections=2)
    _plan(
        "annual", name="Annual family", duration_days=365, price=Decimal("79.99"), allow_mag=False
    )
    _plan("retired", name="Retired plan", active=False)

    response = client.get(reverse("storefront:plans"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Monthly" in html and "Annual family" in html
    assert "Retired plan" not in html
    assert "2 screens at once" in html
    assert "for 12 months" in html
    assert "6.67 EUR a month" in html  # 79.99 / 12, to compare with the monthly plan
    assert reverse("storefront:checkout", args=["monthly"]) in html


@pytest.mark.django_db
def test_it_offers_mag_boxes_only_on_plans_that_allow_them(client):
    _plan("apps-only", name="Apps only", allow_mag=False)

    html = client.get(reverse("storefront:plans")).content.decode()
    assert "MAG and Formuler" not in html

    _plan("boxes", name="Boxes too", allow_mag=True)
    html = client.get(reverse("storefront:plans")).content.decode()
    assert "MAG and Formuler" in html


@pytest.mark.django_db
def test_it_says_so_when_nothing_is_on_sale(client):
    response = client.get(reverse("storefront:plans"))
    assert response.status_code == 200
    assert "No plans are on sale right now" in response.content.decode()


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (1, "1 day"),
        (3, "3 days"),
        (7, "1 week"),
        (14, "2 weeks"),
        (30, "1 month"),
        (90, "3 months"),
        (180, "6 months"),
        (365, "12 months"),
        (730, "24 months"),
        (45, "45 days"),
    ],
)
def test_it_puts_durations_into_words(days, words):
    assert duration_in_words(days) == words
