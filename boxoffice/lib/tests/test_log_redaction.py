"""Tokens in URLs (order status, sign-in links, password resets) never reach a log."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from boxoffice.lib.logging import GunicornLogger, redact_secret_paths

SECRET = "s3cr3t-T0ken_value"  # noqa: S105 - the value that must not appear


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (f"Not Found: /order/{SECRET}/", "Not Found: /order/[redacted]/"),
        (
            f'"GET /order/{SECRET}/progress HTTP/1.1" 200',
            '"GET /order/[redacted]/progress HTTP/1.1" 200',
        ),
        (f"/portal/magic/{SECRET}/", "/portal/magic/[redacted]/"),
        (
            f"https://tv.example.com/portal/link/{SECRET}/",
            "https://tv.example.com/portal/link/[redacted]/",
        ),
        (f"/portal/reset/MTI/{SECRET}/", "/portal/reset/[redacted]/[redacted]/"),
        ("/portal/reset/MTI/set-password/", "/portal/reset/[redacted]/set-password/"),
        ("/portal/magic/request/", "/portal/magic/request/"),
        ("/portal/login/?next=/portal/", "/portal/login/?next=/portal/"),
    ],
)
def test_it_redacts_the_token_segments_of_secret_paths(text, redacted):
    assert redact_secret_paths(text) == redacted


@pytest.fixture
def console():
    """What the console handler of settings.LOGGING writes."""
    [handler] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.django_db
def test_it_logs_no_token_for_a_404_on_an_order_page(client, caplog, console):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(f"/order/{SECRET}/")

    assert response.status_code == 404
    assert "Not Found: /order/[redacted]/" in caplog.text
    assert "Not Found: /order/[redacted]/" in console.getvalue()
    assert SECRET not in caplog.text
    assert SECRET not in console.getvalue()


def test_it_redacts_any_record_that_reaches_the_console_handler(console):
    logging.getLogger("boxoffice.anything").warning("customer opened %s", f"/portal/link/{SECRET}/")

    assert "customer opened /portal/link/[redacted]/" in console.getvalue()
    assert SECRET not in console.getvalue()


def test_it_redacts_tokens_from_the_gunicorn_access_log(tmp_path):
    access_log = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(access_log))
    logger = GunicornLogger(cfg)
    request = SimpleNamespace(headers=[("REFERER", f"https://tv.example.com/order/{SECRET}/")])
    response = SimpleNamespace(status="200 OK", sent=12, headers=[])
    environ = {
        "REMOTE_ADDR": "203.0.113.9",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/order/{SECRET}/progress",
        "PATH_INFO": f"/order/{SECRET}/progress",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://tv.example.com/order/{SECRET}/",
    }

    logger.access(response, request, environ, SimpleNamespace(seconds=0, microseconds=1500))
    for handler in logger.access_log.handlers:
        handler.flush()

    line = access_log.read_text()
    assert "GET /order/[redacted]/progress HTTP/1.1" in line
    assert "https://tv.example.com/order/[redacted]/" in line
    assert SECRET not in line


def test_it_runs_gunicorn_with_the_redacting_logger(monkeypatch):
    from boxoffice.runtime.management.commands import web

    started = {}
    monkeypatch.setattr(web.os, "execv", lambda path, argv: started.setdefault("argv", argv))

    web.Command().handle(bind="127.0.0.1:0", workers=1, threads=1)

    argv = started["argv"]
    assert argv[argv.index("--logger-class") + 1] == "boxoffice.lib.logging.GunicornLogger"
