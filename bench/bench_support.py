"""What `bench_activation.py` and `profile_order.py` share: the production-mode environment of a
run, the SMTP sink that stops the clock, a paid Stripe event, and small process helpers."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
HOST = "bench.example.test"
CREDENTIALS_SUBJECT = "login is ready"


def production_env(*, var: Path, smtp_port: int, webhook_secret: str) -> dict[str, str]:
    """The settings of a run in production mode (DEBUG off, HTTPS behind a proxy), with fresh
    keys, its own folder and the sink as the relay."""
    from cryptography.fernet import Fernet  # noqa: PLC0415 - the benchmark's dependency

    return {
        "BOXOFFICE_ENV": "production",
        "BOXOFFICE_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "boxoffice.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SITE_URL": f"https://{HOST}",
        "ALLOWED_HOSTS": f"{HOST},127.0.0.1,testserver",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
        "STRIPE_SECRET_KEY": "sk_test_bench" + secrets.token_hex(8),
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
        "PAYMENT_GATEWAYS": "stripe",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "LOG_LEVEL": "WARNING",
    }


def paid_event(reference: str, event_id: str) -> dict:
    """A Stripe `checkout.session.completed` event paying order `reference` (9.99 EUR)."""
    return {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"cs_{reference}",
                "object": "checkout.session",
                "client_reference_id": reference,
                "payment_status": "paid",
                "payment_intent": f"pi_{reference}",
                "amount_total": 999,
                "currency": "eur",
            }
        },
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _free(port: int) -> int:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads (and reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:15]) / ticks


class Sink:
    """An SMTP server on loopback that notes when each recipient's credentials mail arrived."""

    def __init__(self, port: int):
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - the driver's dependency

        self.arrived: dict[str, float] = {}
        self.counts: dict[tuple[str, str], int] = {}
        self.cond = threading.Condition()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's
                now = time.perf_counter()
                text = envelope.content.decode("utf-8", "replace")
                subject = ""
                for header in text.split("\r\n\r\n", 1)[0].splitlines():
                    if header.lower().startswith("subject:"):
                        subject = header[8:].strip()
                with sink.cond:
                    for rcpt in envelope.rcpt_tos:
                        key = (rcpt.lower(), subject)
                        sink.counts[key] = sink.counts.get(key, 0) + 1
                        if CREDENTIALS_SUBJECT in subject or subject.startswith("floor"):
                            sink.arrived.setdefault(rcpt.lower(), now)
                    sink.cond.notify_all()
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()

    def wait(self, rcpts: list[str], timeout: float) -> dict[str, float]:
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                missing = [r for r in rcpts if r not in self.arrived]
                if not missing:
                    return {r: self.arrived[r] for r in rcpts}
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise SystemExit(f"{len(missing)} mails missing after {timeout:.0f}s")
                self.cond.wait(left)

    def duplicates(self) -> int:
        return sum(
            n - 1 for (rcpt, subject), n in self.counts.items() if CREDENTIALS_SUBJECT in subject
        )


def _wait_for(check, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start")
