"""The credentials e-mail sent when a line first becomes active (called by provisioning)."""

from __future__ import annotations

from boxoffice.messaging import emails
from boxoffice.messaging.models import Message
from boxoffice.provisioning.models import Line


def credentials_email_send(*, line: Line) -> Message:
    """Send the line's credentials once (dedupe key `credentials:line:<id>`)."""
    return emails.credentials_email_send(line=line)
