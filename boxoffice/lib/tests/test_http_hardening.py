"""HTTP hardening: https enforced in production (but not for the load balancer's probe), HSTS,
a proxy's https header honoured only when configured, and a Content-Security-Policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from boxoffice.lib.env import env_proxy_ssl_header
from boxoffice.lib.tests.settings_under import PRODUCTION_KEYS, settings_under

STRICT_POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "object-src 'none'",
}


def _policy(response) -> set[str]:
    return {part.strip() for part in response["Content-Security-Policy"].split(";")}


def test_it_defaults_to_https_only_in_production(monkeypatch, tmp_path):
    production = settings_under(
        monkeypatch, tmp_path / "prod", BOXOFFICE_ENV="production", **PRODUCTION_KEYS
    )
    local = settings_under(monkeypatch, tmp_path / "local")

    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_HSTS_SECONDS"] == 31536000
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SECURE_REFERRER_POLICY"] == "same-origin"
    assert production["SECURE_PROXY_SSL_HEADER"] is None
    assert local["SECURE_SSL_REDIRECT"] is False
    assert local["SECURE_HSTS_SECONDS"] == 0


def test_it_reads_the_hardening_variables(monkeypatch, tmp_path):
    configured = settings_under(
        monkeypatch,
        tmp_path,
        BOXOFFICE_ENV="production",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="300",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="no",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO",
        **PRODUCTION_KEYS,
    )

    assert configured["SECURE_SSL_REDIRECT"] is False
    assert configured["SECURE_HSTS_SECONDS"] == 300
    assert configured["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert configured["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        ("HTTP_X_FORWARDED_PROTO", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("X-Forwarded-Proto", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("X-Forwarded-Ssl=on", ("HTTP_X_FORWARDED_SSL", "on")),
        ("", None),
    ],
)
def test_it_reads_the_proxy_ssl_header_in_the_forms_operators_write(monkeypatch, raw, header):
    monkeypatch.setenv("SECURE_PROXY_SSL_HEADER", raw)

    assert env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER") == header


def test_it_refuses_a_proxy_ssl_header_it_cannot_read(monkeypatch):
    monkeypatch.setenv("SECURE_PROXY_SSL_HEADER", "X Forwarded Proto")

    with pytest.raises(ImproperlyConfigured, match="SECURE_PROXY_SSL_HEADER"):
        env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")


def test_it_redirects_to_https_but_answers_the_health_probe_over_http(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    page = client.get("/")
    probe = client.get("/healthz")

    assert page.status_code == 301
    assert page["Location"] == "https://testserver/"
    assert probe.status_code == 200
    assert probe.content == b"ok"


@pytest.mark.django_db
def test_it_trusts_the_proxy_https_header_only_when_configured(
    client, settings, monkeypatch, tmp_path
):
    production = settings_under(
        monkeypatch,
        tmp_path,
        BOXOFFICE_ENV="production",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        **PRODUCTION_KEYS,
    )
    for name in (
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_REFERRER_POLICY",
    ):
        setattr(settings, name, production[name])

    behind_proxy = client.get("/", HTTP_X_FORWARDED_PROTO="https")
    plain = client.get("/", HTTP_X_FORWARDED_PROTO="http")

    assert behind_proxy.status_code == 200
    assert behind_proxy["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert behind_proxy["Referrer-Policy"] == "same-origin"
    assert plain.status_code == 301


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/portal/login/", "/order/no-such-token/"])
def test_it_sends_the_strict_content_security_policy_on_public_pages(client, path):
    response = client.get(path)

    assert _policy(response) == STRICT_POLICY
    assert "form-action" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_it_gives_the_back_office_only_the_looser_script_and_style_sources(client):
    response = client.get("/admin/login/")

    policy = _policy(response)
    assert "script-src 'self' 'unsafe-eval'" in policy
    assert "style-src 'self' 'unsafe-inline'" in policy
    loosened = {"script-src 'self'", "style-src 'self'"}
    assert STRICT_POLICY - loosened <= policy


PACKAGE = Path(__file__).resolve().parents[2]
# Mail is not a page (no policy applies to it). The development tools (boxoffice_dev, beside this
# package) are not scanned.
EXEMPT = tuple(
    f"/templates/{app}/email/" for app in ("messaging", "provisioning", "billing", "portal")
)
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=", re.IGNORECASE
)


def test_it_keeps_inline_script_and_style_out_of_every_page_template():
    offenders = []
    for template in sorted(PACKAGE.glob("**/templates/**/*.html")):
        relative = template.relative_to(PACKAGE).as_posix()
        if any(part in relative for part in EXEMPT):
            continue
        source = re.sub(r"{#.*?#}", "", template.read_text(), flags=re.DOTALL)  # comments
        offenders += [f"{relative}: {m.group(0)}" for m in INLINE.finditer(source)]

    assert offenders == [], "the Content-Security-Policy refuses inline script and style"
