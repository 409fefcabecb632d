"""The local inbox: an SMTP server on loopback that keeps every message it receives as a file.

`boxoffice run` starts it so that mail sent locally (receipts, credentials, alerts) can be read in
the back office instead of leaving the machine; tests start one per test and read what arrived.
Each message is one `<UTC timestamp>-<uuid>.eml` file, so the directory is the whole state:
several processes can read it and names sort oldest first.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

from aiosmtpd.controller import Controller

logger = logging.getLogger(__name__)

STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
# Message ids are file names without `.eml`; nothing else is ever opened.
MESSAGE_ID_RE = re.compile(r"(?P<stamp>\d{8}T\d{6}\.\d{6}Z)-[0-9a-f]{32}")
_URL_RE = re.compile(r"https?://[^\s<>\"')\]]+")


class MessageNotFound(LookupError):
    """No stored message has this id (or the id is not one the inbox could have made)."""


@dataclass(frozen=True)
class InboxMessage:
    """One stored message, as the inbox list shows it. `from_` because `from` is a keyword."""

    id: str
    received_at: datetime
    from_: str
    to: str
    subject: str
    has_html: bool
    path: Path


@dataclass(frozen=True)
class InboxMessageDetail:
    summary: InboxMessage
    message: EmailMessage
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    links: list[str] = field(default_factory=list)


class LocalInbox:
    """`LocalInbox(directory=path).start()`; send mail to 127.0.0.1:`.port`; `.stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, directory: Path):
        self.host = host
        self.port = port or _free_port(host)
        self.directory = Path(directory)
        self._stored = threading.Condition()
        self._controller: Controller | None = None
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        # A relay having trouble: while refusing, every mail is answered with this reply.
        self._refuse_reply = ""
        self._refuse_until = 0.0
        self.refused = 0

    def start(self) -> LocalInbox:
        self.directory.mkdir(parents=True, exist_ok=True)
        # server_hostname: aiosmtpd would otherwise ask for the FQDN, a DNS lookup.
        self._controller = Controller(
            _StoreHandler(self), hostname=self.host, port=self.port, server_hostname="local-inbox"
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> LocalInbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def refuse(
        self, *, seconds: float | None = None, reply: str = "451 4.3.0 Try again later"
    ) -> None:
        """Refuse every mail with `reply` (a transient 451 by default), for `seconds` or until
        `accept()`: what a relay does when it is overloaded or its queue is full."""
        self._refuse_reply = reply
        self._refuse_until = time.monotonic() + seconds if seconds is not None else float("inf")

    def accept(self) -> None:
        self._refuse_reply, self._refuse_until = "", 0.0

    def refusal(self) -> str:
        """The reply to give the mail now ("" to accept it); counts refusals."""
        if self._refuse_reply and time.monotonic() < self._refuse_until:
            self.refused += 1
            return self._refuse_reply
        return ""

    def messages(self) -> list[EmailMessage]:
        """Every stored message, oldest first."""
        return [_parse(path) for path in reversed(message_paths(self.directory))]

    def summaries(self) -> list[InboxMessage]:
        """What `messages()` holds, as the inbox pages list it (received_at, to, subject, ...)."""
        return [summarize_message(path) for path in reversed(message_paths(self.directory))]

    def wait_for(self, count: int, timeout: float = 5) -> list[EmailMessage]:
        """Block until at least `count` messages are stored; return them all, oldest first."""
        deadline = time.monotonic() + timeout
        with self._stored:
            while len(message_paths(self.directory)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    found = len(message_paths(self.directory))
                    raise TimeoutError(
                        f"expected {count} message(s) in {self.directory}, found {found} "
                        f"after {timeout} s"
                    )
                # Woken by our own handler; the short cap also sees files other processes write.
                self._stored.wait(min(remaining, 0.1))
        return self.messages()

    def store(self, content: bytes) -> Path:
        """Write one message atomically: readers never see half a file."""
        with self._stored:
            # Names must sort in arrival order, even for two messages in one microsecond.
            now = max(datetime.now(UTC), self._last_stamp + timedelta(microseconds=1))
            self._last_stamp = now
        stamp = now.strftime(STAMP_FORMAT)
        path = self.directory / f"{stamp}-{uuid.uuid4().hex}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".incoming-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._stored:
            self._stored.notify_all()
        return path


class _StoreHandler:
    def __init__(self, inbox: LocalInbox):
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        refusal = self.inbox.refusal()
        if refusal:
            logger.info("Local inbox: refused mail to %s (%s)", envelope.rcpt_tos, refusal)
            return refusal
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        # The envelope says who the mail really went to (Bcc included); headers may not.
        envelope_headers = (
            f"X-MailFrom: {envelope.mail_from}\r\nX-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        path = self.inbox.store(envelope_headers + content)
        logger.info("Local inbox: mail to %s kept as %s", ", ".join(envelope.rcpt_tos), path.name)
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _parse(path: Path) -> EmailMessage:
    with path.open("rb") as handle:
        return email.message_from_binary_file(handle, policy=email.policy.default)


# --- reading the directory (the back-office pages) --------------------------------------------
def message_paths(directory: Path) -> list[Path]:
    """Stored message files, newest first (their names sort by time received)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    paths = [p for p in directory.glob("*.eml") if MESSAGE_ID_RE.fullmatch(p.stem)]
    return sorted(paths, key=lambda p: p.name, reverse=True)


def summarize_message(path: Path, message: EmailMessage | None = None) -> InboxMessage:
    message = message if message is not None else _parse(path)
    match = MESSAGE_ID_RE.fullmatch(path.stem)
    if match is None:
        raise MessageNotFound(path.stem)
    received_at = datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=UTC)
    return InboxMessage(
        id=path.stem,
        received_at=received_at,
        from_=str(message.get("From", "")),
        to=str(message.get("To", "") or message.get("X-RcptTo", "")),
        subject=str(message.get("Subject", "")),
        has_html=message.get_body(preferencelist=("html",)) is not None,
        path=path,
    )


def list_messages(directory: Path) -> list[InboxMessage]:
    """Every stored message, newest first."""
    summaries = []
    for path in message_paths(directory):
        try:
            summaries.append(summarize_message(path))
        except FileNotFoundError:  # removed while we were listing
            continue
    return summaries


def read_message(directory: Path, message_id: str) -> InboxMessageDetail:
    """One message by id. Ids are checked against the file-name pattern, so `../x` never opens."""
    if not isinstance(message_id, str) or not MESSAGE_ID_RE.fullmatch(message_id):
        raise MessageNotFound(message_id)
    path = Path(directory) / f"{message_id}.eml"
    try:
        message = _parse(path)
    except (FileNotFoundError, IsADirectoryError):
        raise MessageNotFound(message_id) from None
    text = _body(message, "plain")
    html = _body(message, "html")
    return InboxMessageDetail(
        summary=summarize_message(path, message),
        message=message,
        headers=[(name, str(value)) for name, value in message.items()],
        text=text,
        html=html,
        links=_links(text, html),
    )


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken transfer encoding
        return part.get_payload(decode=True).decode("utf-8", errors="replace")


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href.strip())


def _links(text: str | None, html: str | None) -> list[str]:
    found: list[str] = []
    if html:
        collector = _LinkCollector()
        collector.feed(html)
        found += collector.links
    if text:
        found += [url.rstrip(".,;:!?") for url in _URL_RE.findall(text)]
    return list(dict.fromkeys(found))
