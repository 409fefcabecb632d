"""Complex reads about lines."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from django.db.models import Count, Q

from boxoffice.messaging.models import Message
from boxoffice.panels.adapters.base import PanelError, PanelLine
from boxoffice.panels.adapters.registry import adapter_for
from boxoffice.provisioning.models import Line, OnboardingStep, PanelOperation

logger = logging.getLogger(__name__)

# The back office waits at most this long for a panel to describe a line: the page must load
# even when the panel is down.
LIVE_STATE_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class LinePanelState:
    line: PanelLine | None = None
    error: str = ""


def line_panel_state(*, line: Line) -> LinePanelState:
    """The line as its panel reports it right now. Network I/O: call outside any transaction."""
    if not line.panel_line_id:
        return LinePanelState(error="The line has not been created on the panel yet.")
    panel = line.panel
    config = panel.adapter_config()
    config = dataclasses.replace(
        config,
        timeout=min(config.timeout or LIVE_STATE_TIMEOUT_SECONDS, LIVE_STATE_TIMEOUT_SECONDS),
    )

    try:
        return LinePanelState(line=adapter_for(panel.kind, config).get_line(line.panel_line_id))
    except PanelError as exc:
        return LinePanelState(error=f"{panel.name} did not answer: {exc}")
    except Exception:  # a bug in an adapter must not take the back-office page down with it
        logger.exception("reading line %s from panel %s failed", line.pk, panel.pk)
        return LinePanelState(error=f"Reading the line from {panel.name} failed (see the logs).")


# --- the welcome sequence's report (back office) -------------------------------------------


@dataclass(frozen=True)
class MailRates:
    """Sent, opened and clicked counts of one group of tracked mails (a template or a step)."""

    label: str
    key: str
    sent: int
    opened: int
    clicked: int

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.sent if self.sent else None

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.sent if self.sent else None


def _rates(label: str, key: str, messages) -> MailRates:
    sent = messages.filter(status="sent")
    counts = sent.aggregate(
        sent=Count("pk"),
        opened=Count("pk", filter=Q(tracking__first_opened_at__isnull=False)),
        clicked=Count("pk", filter=Q(tracking__first_clicked_at__isnull=False)),
    )
    return MailRates(label=label, key=key, **counts)


# The welcome sequence's templates, in the order they go out (kinds of `welcome_emails`).
WELCOME_TEMPLATES = (
    ("welcome_day1", "Mail 2: tips (already watching)"),
    ("welcome_day1_start", "Mail 2: let's get you watching"),
    ("welcome_day3", "Mail 3: portal and more to watch"),
    ("welcome_day7", "Mail 4: check-in and add-ons"),
)


def welcome_rates_by_template() -> list[MailRates]:
    return [
        _rates(label, kind, Message.objects.filter(kind=kind)) for kind, label in WELCOME_TEMPLATES
    ]


def welcome_rates_by_step() -> list[MailRates]:
    rows = []
    for step, label in OnboardingStep.Step.choices:
        ids = OnboardingStep.objects.filter(step=step, message__isnull=False).values("message_id")
        rows.append(_rates(label, step, Message.objects.filter(pk__in=ids)))
    return rows


def welcome_step_counts() -> dict[str, dict[str, int]]:
    """Per step: how many are scheduled, sent (by variant) and skipped."""
    counts: dict[str, dict[str, int]] = {}
    for row in OnboardingStep.objects.values("step", "status", "variant").annotate(n=Count("pk")):
        key = row["status"] if row["status"] != "sent" or not row["variant"] else row["variant"]
        counts.setdefault(row["step"], {})[key] = row["n"]
    return counts


def line_password_on_panel(panel_id: int, username: str) -> str | None:
    """Our password of the line `username` on panel `panel_id` (exact username), or None.
    For kinds whose API finds a line only by username and password (Xtream UI). A line moved
    away still has its old copy there until the move's clean-up ran: same name, same password."""
    line = Line.objects.filter(panel_id=panel_id, username=username).only("password").first()
    if line is None:
        moved = (
            PanelOperation.objects.filter(
                kind=PanelOperation.Kind.MOVE,
                params__from_panel=panel_id,
                line__username=username,
            )
            .select_related("line")
            .order_by("-pk")
            .first()
        )
        line = moved.line if moved is not None else None
    return line.password if line is not None and line.username == username else None
