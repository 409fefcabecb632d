"""pytest fixture: a local inbox on a free loopback port, with Django's mail settings pointed at it.

Loaded for every test through the root conftest's `pytest_plugins`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxoffice_dev.smtp_inbox import LocalInbox


@pytest.fixture
def smtp_inbox(tmp_path, settings) -> Iterator[LocalInbox]:
    inbox = LocalInbox(host="127.0.0.1", port=0, directory=tmp_path / "inbox").start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = inbox.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.LOCAL_INBOX_DIR = inbox.directory
    try:
        yield inbox
    finally:
        inbox.stop()
