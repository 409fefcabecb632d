"""The one choke point for outbound HTTP.

Explicit timeouts on every call, no hidden retries (retry policy belongs to the operation that
knows whether a repeat is safe), and a User-Agent that names us in panel and gateway logs.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import certifi
import httpx

USER_AGENT = "Boxoffice/0.1 (+https://github.com/boxoffice)"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@lru_cache(maxsize=1)
def _verified_tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~20 ms; one context serves every client (they are read-only).
    return ssl.create_default_context(cafile=certifi.where())


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
        verify=_verified_tls_context() if verify else False,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        follow_redirects=False,
        transport=transport,
    )
