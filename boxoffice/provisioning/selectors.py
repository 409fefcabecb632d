"""Complex reads about lines."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from boxoffice.panels.adapters.base import PanelError, PanelLine
from boxoffice.panels.adapters.registry import adapter_for
from boxoffice.provisioning.models import Line, PanelOperation

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
