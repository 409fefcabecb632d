"""The credentials e-mail sent when a line becomes active."""

from __future__ import annotations

from django.conf import settings

from boxoffice.messaging.services import message_create, message_deliver
from boxoffice.provisioning.models import Line


def credentials_email_send(*, line: Line):
    """Send the line's credentials once (dedupe key per line)."""
    from boxoffice.provisioning.urls_for_line import line_access

    access = line_access(line)
    lines = [
        f"Hello {line.customer.name or line.customer.email},",
        "",
        f"Your {line.plan.name} subscription is active.",
        "",
        f"Username: {line.username}",
        f"Password: {line.password}",
        f"Expires: {line.expires_at:%Y-%m-%d %H:%M UTC}" if line.expires_at else "Expires: never",
        "",
        f"M3U playlist: {access.m3u_url}",
        f"Xtream codes: server {access.server_url}, username {line.username}, password {line.password}",
        f"EPG: {access.epg_url}",
    ]
    if line.username_adjusted:
        lines.insert(4, f"The username {line.requested_username} was taken, so yours is {line.username}.")
    message, created = message_create(
        kind="credentials",
        to_email=line.customer.email,
        subject=f"Your {settings.SITE_NAME} login is ready",
        body_text="\n".join(lines) + "\n",
        dedupe_key=f"credentials:line:{line.pk}",
        customer=line.customer,
        order=line.order,
        line=line,
    )
    if created or message.status != message.Status.SENT:
        message_deliver(message=message)
    return message
