"""Line usernames and passwords: plain letters and digits, decided before any panel call."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.panels.models import Panel
from boxoffice.provisioning.models import Line
from boxoffice.provisioning.usernames import (
    MAX_USERNAME_LENGTH,
    next_suffix_name,
    password_generate,
    username_allocate,
    username_generate,
)


@pytest.fixture
def panels(db):
    return [
        Panel.objects.create(
            name=name,
            kind="xui_one",
            api_url=f"http://{name}.test",
            public_url=f"http://{name}.test",
        )
        for name in ("one", "two")
    ]


@pytest.fixture
def line_on(panels):
    customer = Customer.objects.create(email="owner@example.test")
    plan = Plan.objects.create(slug="m", name="M", duration_days=30, price=Decimal("1"))

    def make(panel: Panel, username: str, status: str = "active") -> Line:
        return Line.objects.create(
            customer=customer,
            plan=plan,
            panel=panel,
            username=username,
            password="abc123def456",
            status=status,
        )

    return make


def test_it_generates_alphanumeric_passwords_with_a_letter_and_a_digit():
    for _ in range(200):
        password = password_generate()
        assert re.fullmatch(r"[A-Za-z0-9]{12}", password)
        assert any(c.isalpha() for c in password)
        assert any(c.isdigit() for c in password)


def test_it_generates_passwords_of_the_asked_length():
    assert len(password_generate(20)) == 20


@pytest.mark.parametrize(
    "email",
    [
        "jane.doe+tv@example.test",
        "Jane_DOE@example.test",
        "jo@example.test",
        "x@example.test",
        "+++@example.test",
        "._-@example.test",
        "jürgen.öz@example.test",
        "averyveryverylonglocalpartindeed@example.test",
    ],
)
def test_it_generates_plain_usernames_from_emails(email):
    name = username_generate(email=email)

    assert re.fullmatch(r"[a-z0-9]{8,16}", name), name


def test_it_keeps_a_readable_stem_of_the_email():
    assert re.fullmatch(r"janedoe\d{4}", username_generate(email="Jane.Doe+tv@example.test"))


def test_it_allocates_the_requested_name_when_it_is_free(panels):
    assert username_allocate(panel_id=panels[0].pk, requested="janedoe") == ("janedoe", False)


def test_it_allocates_the_smallest_free_suffix(panels, line_on):
    for taken in ("janedoe", "janedoe1", "janedoe3", "janedoe10"):
        line_on(panels[0], taken)

    assert username_allocate(panel_id=panels[0].pk, requested="janedoe") == ("janedoe2", True)


def test_it_treats_names_that_differ_only_in_case_as_taken(panels, line_on):
    # XUI One compares usernames without case: BOXTEST01 is boxtest01 (reference/recorded).
    line_on(panels[0], "JaneDoe")

    assert username_allocate(panel_id=panels[0].pk, requested="janedoe") == ("janedoe1", True)


def test_it_skips_names_a_concurrent_reservation_just_took(panels, line_on):
    line_on(panels[0], "janedoe")

    assert username_allocate(
        panel_id=panels[0].pk, requested="janedoe", also_taken={"janedoe1"}
    ) == ("janedoe2", True)


def test_it_ignores_names_on_another_panel(panels, line_on):
    line_on(panels[1], "janedoe")

    assert username_allocate(panel_id=panels[0].pk, requested="janedoe") == ("janedoe", False)


def test_it_ignores_the_line_being_renamed(panels, line_on):
    line = line_on(panels[0], "janedoe")

    assert username_allocate(
        panel_id=panels[0].pk, requested="janedoe", exclude_line_id=line.pk
    ) == ("janedoe", False)


def test_it_keeps_suffixed_names_within_the_length_limit(panels, line_on):
    long = "a" * MAX_USERNAME_LENGTH
    line_on(panels[0], long)

    name, adjusted = username_allocate(panel_id=panels[0].pk, requested=long)

    assert (name, adjusted) == ("a" * (MAX_USERNAME_LENGTH - 1) + "1", True)


def test_it_names_the_next_in_the_sequence():
    assert next_suffix_name(base="janedoe", current="janedoe") == "janedoe1"
    assert next_suffix_name(base="janedoe", current="janedoe1") == "janedoe2"
    assert next_suffix_name(base="janedoe", current="janedoe9") == "janedoe10"


def test_it_truncates_at_32_characters_and_keeps_the_suffix():
    base = "b" * MAX_USERNAME_LENGTH
    first = next_suffix_name(base=base, current=base)
    second = next_suffix_name(base=base, current=first)

    assert first == "b" * 31 + "1"
    assert second == "b" * 31 + "2"
    assert len(next_suffix_name(base=base, current="b" * 31 + "9")) == MAX_USERNAME_LENGTH
    assert next_suffix_name(base=base, current="b" * 31 + "9").endswith("10")
