"""Typed environment helpers: defaults when unset, loud errors that name the variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from boxoffice.lib.env import env_bool, env_float, env_int, env_list, env_str

NAME = "BOXOFFICE_TEST_SETTING"


@pytest.fixture(autouse=True)
def _unset(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)


def test_it_returns_defaults_when_unset():
    assert env_str(NAME) == ""
    assert env_str(NAME, "fallback") == "fallback"
    assert env_bool(NAME) is False
    assert env_bool(NAME, True) is True
    assert env_int(NAME, 7) == 7
    assert env_float(NAME, 0.5) == 0.5
    assert env_list(NAME) == []
    assert env_list(NAME, ["a", "b"]) == ["a", "b"]


def test_it_returns_a_copy_of_the_default_list():
    default = ["a"]

    env_list(NAME, default).append("b")

    assert default == ["a"]


def test_it_reads_strings_as_they_are(monkeypatch):
    monkeypatch.setenv(NAME, " spaced value ")

    assert env_str(NAME, "fallback") == " spaced value "


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " yes ", "on"])
def test_it_reads_true_booleans(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)

    assert env_bool(NAME, False) is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off", ""])
def test_it_reads_false_booleans(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)

    assert env_bool(NAME, True) is False


def test_it_refuses_a_boolean_it_cannot_read(monkeypatch):
    monkeypatch.setenv(NAME, "maybe")

    with pytest.raises(ImproperlyConfigured, match=f"{NAME}='maybe' is not a boolean"):
        env_bool(NAME)


def test_it_reads_numbers(monkeypatch):
    monkeypatch.setenv(NAME, " 42 ")
    assert env_int(NAME, 0) == 42
    assert env_float(NAME, 0.0) == 42.0

    monkeypatch.setenv(NAME, "0.25")
    assert env_float(NAME, 1.0) == 0.25


def test_it_uses_the_default_for_an_empty_number(monkeypatch):
    monkeypatch.setenv(NAME, "  ")

    assert env_int(NAME, 3) == 3
    assert env_float(NAME, 1.5) == 1.5


@pytest.mark.parametrize(
    "helper, raw, message",
    [
        (env_int, "4.5", "is not a whole number"),
        (env_int, "many", "is not a whole number"),
        (env_float, "fast", "is not a number"),
    ],
)
def test_it_refuses_numbers_it_cannot_read(monkeypatch, helper, raw, message):
    monkeypatch.setenv(NAME, raw)

    with pytest.raises(ImproperlyConfigured, match=f"{NAME}='{raw}' {message}"):
        helper(NAME, 1)


def test_it_splits_lists_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv(NAME, " a.example, b.example ,,c ")

    assert env_list(NAME, ["default"]) == ["a.example", "b.example", "c"]


def test_it_reads_an_empty_list_as_empty(monkeypatch):
    monkeypatch.setenv(NAME, "")

    assert env_list(NAME, ["default"]) == []
