"""One HTTP exchange with a panel, for the kinds whose clients speak plain HTTP + JSON (XUI One,
Xtream UI, Ministra, OneStream): the total deadline, the size cap, and every way the network can fail turned into a
`TransientPanelError` that names the panel and never the secrets sent (`from None`: httpx
exceptions carry the request, headers included)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from boxoffice.lib.http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    ResponseTooLarge,
    http_client,
    http_deadline,
    http_read_capped,
)
from boxoffice.panels.adapters.base import PanelConfig, TransientPanelError

logger = logging.getLogger(__name__)

RAW_PREFIX = 500


@dataclass(frozen=True)
class PanelAnswer:
    status: int
    text: str
    headers: httpx.Headers


class PanelHttpClient:
    """What every kind's client starts from: its panel's config and one connection pool (the
    config's timeout and TLS check; `headers` sent on every request), closed by `close()`."""

    def __init__(
        self,
        config: PanelConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.config = config
        self._http = http_client(
            timeout=config.timeout, verify=config.verify_tls, headers=headers, transport=transport
        )

    def close(self) -> None:
        self._http.close()


def panel_exchange(
    http: httpx.Client,
    config: PanelConfig,
    *,
    label: str,
    what: str,
    method: str,
    url: str,
    log_name: str = "",
    connect_hint: str = "check the panel is up and its API URL.",
    too_large_note: str = "",
    applied: str = "request",
    error_text: Callable[[str], str] | None = None,
    **request: Any,
) -> PanelAnswer:
    """Send one request and read its answer within the config's timeout (the whole call's
    budget, not each read's: a panel that drips bytes cannot hold the worker longer). `what`
    names the call in messages ("POST accounts"); the kind's own wording: `log_name` (the debug
    log's prefix, `label` by default), `connect_hint` (what to check when the panel cannot be
    reached), `too_large_note` (appended to "not read further"), `applied` (what "may still have
    been applied" after a timeout) and `error_text` (when given, the network error's own text,
    redacted by it, goes into the "could not reach" message)."""
    max_bytes = int(config.options.get("max_response_bytes") or DEFAULT_MAX_RESPONSE_BYTES)
    started = time.monotonic()
    try:
        with (
            http_deadline(config.timeout),
            http.stream(method, url, **request) as response,
        ):
            content = http_read_capped(response, max_bytes=max_bytes)
    except ResponseTooLarge:
        raise TransientPanelError(
            f"{label} answered {what} with more than {max_bytes} bytes; not read further"
            f"{too_large_note}.",
            code="too_large",
        ) from None
    except httpx.TimeoutException:
        raise TransientPanelError(
            f"{label} did not answer {what} within {config.timeout:g}s; "
            f"the {applied} may still have been applied.",
            code="timeout",
        ) from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        detail = type(exc).__name__
        if error_text is not None:
            detail = f"{detail}: {error_text(str(exc))}"
        raise TransientPanelError(
            f"Could not reach {label} for {what} ({detail}); {connect_hint}",
            code="connect",
        ) from None
    except httpx.HTTPError as exc:
        raise TransientPanelError(
            f"HTTP trouble talking to {label} for {what} ({type(exc).__name__}).",
            code="connect",
        ) from None
    logger.debug(
        "%s %s -> HTTP %s in %.0f ms",
        log_name or label,
        what,
        response.status_code,
        (time.monotonic() - started) * 1000,
    )
    text = content.decode(response.encoding or "utf-8", "replace")
    return PanelAnswer(status=response.status_code, text=text, headers=response.headers)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
