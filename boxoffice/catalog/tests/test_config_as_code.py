"""`boxoffice apply FILE.toml`: panels and plans as code, all-or-nothing and idempotent."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from boxoffice.catalog.models import Plan, PlanPanel
from boxoffice.lib.crypto import decrypt_str
from boxoffice.panels.models import Panel

DEMO = Path(__file__).resolve().parents[1] / "demo.toml"
DEMO_KEY = "demo-key-Zq7xK2"

VALID_PANEL = """\
[[panel]]
name = "Fresh panel"
kind = "xui_one"
api_url = "http://127.0.0.1:8200"
public_url = "http://127.0.0.1:8200"
api_key = "fresh-key"
"""

VALID_PLAN = """\
[[plan]]
slug = "weekly"
name = "Weekly"
duration_days = 7
price = "3.99"

[plan.panels."Fresh panel"]
bouquets = [1]
"""


@pytest.fixture
def demo_key(monkeypatch):
    monkeypatch.setenv("DEMO_PANEL_API_KEY", DEMO_KEY)
    return DEMO_KEY


def apply(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("apply", str(path), *args, stdout=out)
    return out.getvalue()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


def catalogue_dump() -> list:
    return [
        list(Panel.objects.order_by("pk").values()),
        list(Plan.objects.order_by("pk").values()),
        list(PlanPanel.objects.order_by("pk").values()),
    ]


def test_it_applies_the_demo_file(db, demo_key):
    out = apply(DEMO)

    assert "created   panel Demo panel" in out
    panel = Panel.objects.get()
    assert (panel.kind, panel.capacity, panel.regions) == ("xui_one", 500, [])
    assert panel.secrets["api_key"] == DEMO_KEY
    assert list(Plan.objects.values_list("slug", flat=True)) == ["monthly", "quarterly", "annual"]
    annual = PlanPanel.objects.get(plan__slug="annual", panel=panel)
    assert annual.mapping == {"bouquets": [1, 2, 3, 4, 5], "outputs": ["m3u8", "ts"]}
    assert str(Plan.objects.get(slug="quarterly").price) == "24.99"


def test_it_changes_nothing_when_the_same_file_is_applied_twice(db, demo_key):
    apply(DEMO)
    before = catalogue_dump()

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        out = apply(DEMO)

    assert "nothing to change (4 items up to date)" in out
    assert "updated" not in out and "created" not in out
    assert catalogue_dump() == before


def test_it_updates_only_the_plan_whose_price_changed(db, demo_key, tmp_path):
    apply(DEMO)
    before = {p.slug: p.updated_at for p in Plan.objects.all()}
    panel_before = Panel.objects.get().updated_at
    edited = write(tmp_path, DEMO.read_text().replace('price = "24.99"', 'price = "19.99"'))

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        out = apply(edited)

    assert out.strip() == "updated   plan quarterly"
    after = {p.slug: p.updated_at for p in Plan.objects.all()}
    assert after["quarterly"] > before["quarterly"]
    assert after["monthly"] == before["monthly"]
    assert after["annual"] == before["annual"]
    assert str(Plan.objects.get(slug="quarterly").price) == "19.99"
    assert Panel.objects.get().updated_at == panel_before


def test_it_refuses_unknown_keys_with_their_line_numbers(db, tmp_path):
    text = (
        "[[panel]]\n"  # 1
        'name = "P"\n'  # 2
        'kind = "xui_one"\n'  # 3
        'api_url = "http://127.0.0.1:8100"\n'  # 4
        'public_url = "http://127.0.0.1:8100"\n'  # 5
        'colour = "blue"\n'  # 6
        "\n"  # 7
        "[[plan]]\n"  # 8
        'slug = "monthly"\n'  # 9
        'name = "Monthly"\n'  # 10
        "duration_days = 30\n"  # 11
        'price = "9.99"\n'  # 12
        "\n"  # 13
        "[[plan]]\n"  # 14
        'slug = "annual"\n'  # 15
        'name = "Annual"\n'  # 16
        "duration_days = 365\n"  # 17
        'price = "79.99"\n'  # 18
        "discount = 5\n"  # 19
        "\n"  # 20
        "[plan.panels.P]\n"  # 21
        "bouquets = [1]\n"  # 22
        "bouqets = [2]\n"  # 23
    )

    with pytest.raises(CommandError) as caught:
        apply(write(tmp_path, text))

    message = str(caught.value)
    assert "nothing changed" in message
    assert "line 6: unknown key 'colour'" in message
    assert "line 19: unknown key 'discount'" in message
    assert "line 23: unknown key 'bouqets'" in message
    assert catalogue_dump() == [[], [], []]


BAD_FILES = {
    "negative capacity": (
        VALID_PANEL.replace("Fresh panel", "Bad panel") + "capacity = -1\n",
        "capacity: Ensure this value is greater than or equal to 0",
    ),
    "unknown kind": (
        VALID_PANEL.replace("Fresh panel", "Bad panel").replace('"xui_one"', '"xtream_two"'),
        "kind 'xtream_two' is unknown (known: xui_one",
    ),
    "invalid url": (
        VALID_PANEL.replace("Fresh panel", "Bad panel").replace(
            'api_url = "http://127.0.0.1:8200"', 'api_url = "panel dot example"'
        ),
        "api_url: Enter a valid URL",
    ),
    "price not a number": (
        VALID_PLAN.replace('"3.99"', '"abc"'),
        "price 'abc' is not a number",
    ),
    "bouquets not ints": (
        VALID_PLAN.replace("bouquets = [1]", 'bouquets = ["sports"]'),
        "bouquets must be a list of bouquet ids",
    ),
    "unknown output": (
        VALID_PLAN + 'outputs = ["mp4"]\n',
        "outputs must be a list of m3u8, ts, rtmp",
    ),
    "undefined panel": (
        VALID_PLAN.replace("Fresh panel", "Nowhere"),
        "plan 'weekly' names panel 'Nowhere', which is not defined",
    ),
    "missing env var": (
        VALID_PANEL.replace("Fresh panel", "Bad panel").replace(
            'api_key = "fresh-key"', 'api_key_env = "BOXOFFICE_TEST_UNSET_API_KEY"'
        ),
        "environment variable BOXOFFICE_TEST_UNSET_API_KEY is not set",
    ),
    "invalid toml": ("[[plan]\nslug = ", "not valid TOML"),
    "plan defined twice": (
        VALID_PLAN + "\n" + VALID_PLAN.replace('"Weekly"', '"Weekly again"'),
        "plan 'weekly' is defined twice",
    ),
    "panels not a table": (
        VALID_PLAN.replace('[plan.panels."Fresh panel"]\nbouquets = [1]\n', "panels = [1]\n"),
        "panels must be a table",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_it_refuses_a_bad_file_and_changes_nothing(case, db, demo_key, tmp_path, monkeypatch):
    monkeypatch.delenv("BOXOFFICE_TEST_UNSET_API_KEY", raising=False)
    apply(DEMO)
    before = catalogue_dump()
    fragment, reason = BAD_FILES[case]
    # Valid changes come first: they must not survive the refusal.
    text = (
        VALID_PANEL
        + "\n"
        + DEMO.read_text().replace('price = "9.99"', 'price = "1.00"')
        + "\n"
        + fragment
    )

    with pytest.raises(CommandError) as caught:
        apply(write(tmp_path, text))

    assert reason in str(caught.value)
    assert "was not applied; nothing changed" in str(caught.value)
    assert catalogue_dump() == before
    assert not Panel.objects.filter(name="Fresh panel").exists()


def test_it_refuses_a_file_it_cannot_read(db, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        apply(tmp_path / "missing.toml")


def test_it_stores_the_api_key_encrypted(db, demo_key):
    apply(DEMO)

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM panels_panel WHERE name = %s", ["Demo panel"])
        (raw,) = cursor.fetchone()
    assert raw.startswith("fernet:")
    assert DEMO_KEY not in raw
    assert json.loads(decrypt_str(raw)) == {"api_key": DEMO_KEY}
    assert Panel.objects.get(name="Demo panel").secrets["api_key"] == DEMO_KEY


def test_it_saves_nothing_on_a_dry_run(db, demo_key):
    out = apply(DEMO, "--dry-run")

    assert "created   panel Demo panel" in out
    assert "created   plan monthly" in out
    assert "dry run: nothing was saved" in out
    assert catalogue_dump() == [[], [], []]


def test_an_export_applies_back_with_nothing_to_change(db, demo_key, tmp_path):
    apply(DEMO)
    before = catalogue_dump()

    exported = io.StringIO()
    call_command("export", stdout=exported)
    text = exported.getvalue()

    assert DEMO_KEY not in text  # secrets leave as the name of a variable only
    assert 'api_key_env = "DEMO_PANEL_API_KEY"' in text
    assert 'access_code = "adminapi1"' in text
    assert "bouquets = [1, 2, 3, 4, 5]" in text
    out = apply(write(tmp_path, text))
    assert "nothing to change" in out
    assert catalogue_dump() == before


def test_it_refuses_another_kinds_key_naming_the_allowed_ones(db, tmp_path):
    text = VALID_PANEL + 'username = "reseller"\n'
    with pytest.raises(CommandError) as caught:
        apply(write(tmp_path, text))
    message = str(caught.value)
    assert "unknown key 'username'" in message
    assert "access_code" in message and "api_key_env" in message and "m3u_style" in message


def test_it_applies_and_exports_the_renewal_lifecycle_settings_of_a_plan(db, demo_key, tmp_path):
    apply(DEMO)
    assert Plan.objects.get(slug="monthly").reminder_days == [7, 3, 0]  # the defaults
    text = DEMO.read_text().replace(
        'slug = "monthly"',
        'slug = "monthly"\nreminder_days = [10, 1]\ngrace_days = 5\n'
        "terminate_after_days = 45\nwinback_days = 0\n"
        'winback_text = "Come back: 20 % off your next month."',
        1,
    )
    out = apply(write(tmp_path, text))

    assert out.strip() == "updated   plan monthly"
    plan = Plan.objects.get(slug="monthly")
    assert (plan.reminder_days, plan.grace_days, plan.terminate_after_days) == ([10, 1], 5, 45)
    assert plan.winback_days == 0
    assert plan.winback_text == "Come back: 20 % off your next month."
    exported = io.StringIO()
    call_command("export", stdout=exported)
    assert "reminder_days = [10, 1]" in exported.getvalue()
    assert "nothing to change" in apply(write(tmp_path, exported.getvalue()))


@pytest.mark.parametrize(
    "line",
    ['reminder_days = "7,3"', "reminder_days = [-1]", "grace_days = 40\nterminate_after_days = 30"],
)
def test_it_refuses_lifecycle_settings_that_make_no_sense(line, db, demo_key, tmp_path):
    text = DEMO.read_text().replace('slug = "monthly"', f'slug = "monthly"\n{line}', 1)
    with pytest.raises(CommandError):
        apply(write(tmp_path, text))
    assert not Plan.objects.filter(slug="monthly").exists()


def test_it_applies_and_exports_prices_in_other_currencies(db, demo_key, tmp_path):
    apply(DEMO)
    plan = Plan.objects.get(slug="monthly")
    assert plan.price_in("gbp") == (Decimal("8.49"), "GBP")
    assert plan.price_in("JPY") == (Decimal("9.99"), "EUR")  # none in yen: its own price
    text = DEMO.read_text().replace(
        'prices = { GBP = "8.49", USD = "10.99" }', 'prices = { GBP = "8.99" }', 1
    )
    assert apply(write(tmp_path, text)).strip().startswith("updated   plan monthly")
    assert plan.currencies() == ["EUR", "GBP"]  # USD dropped with the file
    exported = io.StringIO()
    call_command("export", stdout=exported)
    assert 'prices = { GBP = "8.99" }' in exported.getvalue()
    assert "nothing to change" in apply(write(tmp_path, exported.getvalue()))


@pytest.mark.parametrize(
    "prices", ['{ EUR = "9.99" }', '{ GB = "1" }', '{ GBP = "-1" }', '{ GBP = "abc" }', '"GBP"']
)
def test_it_refuses_prices_that_are_not_other_currencies_amounts(db, demo_key, tmp_path, prices):
    text = DEMO.read_text().replace(
        'prices = { GBP = "8.49", USD = "10.99" }', f"prices = {prices}", 1
    )
    with pytest.raises(CommandError) as caught:
        apply(write(tmp_path, text))
    assert "line " in str(caught.value)
    assert not Plan.objects.filter(slug="monthly").exists()  # nothing applied


def test_it_applies_and_exports_a_plans_automatic_renewal(db, demo_key, tmp_path):
    apply(DEMO)
    assert Plan.objects.get(slug="monthly").auto_renew is False  # the default: by hand
    text = DEMO.read_text().replace('slug = "monthly"', 'slug = "monthly"\nauto_renew = true', 1)
    assert apply(write(tmp_path, text)).strip() == "updated   plan monthly"
    assert Plan.objects.get(slug="monthly").auto_renew is True
    exported = io.StringIO()
    call_command("export", stdout=exported)
    assert "auto_renew = true" in exported.getvalue()
    assert "nothing to change" in apply(write(tmp_path, exported.getvalue()))


@pytest.mark.parametrize("line", ["duration_days = 30\nduration_hours = 24", "duration_days = 400"])
def test_it_refuses_an_automatic_renewal_a_gateway_cannot_charge(line, db, demo_key, tmp_path):
    text = (
        DEMO.read_text()
        .replace('slug = "monthly"', 'slug = "monthly"\nauto_renew = true', 1)
        .replace("duration_days = 30", line, 1)
    )
    with pytest.raises(CommandError) as caught:
        apply(write(tmp_path, text))
    assert "auto_renew" in str(caught.value)
    assert not Plan.objects.filter(slug="monthly").exists()
