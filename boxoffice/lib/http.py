"""The one choke point for outbound HTTP.

Explicit timeouts on every call, no hidden retries (retry policy belongs to the operation that
knows whether a repeat is safe), and a User-Agent that names us in panel and gateway logs.
"""

from __future__ import annotations

import httpx

USER_AGENT = "Boxoffice/0.1 (+https://github.com/boxoffice)"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def http_client(
    *,
    base_url: str = "",
    timeout: float | httpx.Timeout | None = None,
    verify: bool = True,
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    elif not isinstance(timeout, httpx.Timeout):
        timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        verify=verify,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        follow_redirects=False,
        transport=transport,
    )
