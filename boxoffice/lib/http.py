"""The one choke point for outbound HTTP.

Explicit timeouts on every call, no hidden retries (retry policy belongs to the operation that
knows whether a repeat is safe), and a User-Agent that names us in panel and gateway logs.

httpx timeouts are per socket operation: a server that drips one byte every two seconds never
trips a ten-second read timeout and can hold a worker for as long as it likes. So every client
made here also honours a *total* deadline (`http_deadline`): each connect, read and write waits
at most for what is left of it, and once it has passed the next one fails as a timeout. Bodies
are read with `http_read_capped`, which streams and stops at a size cap instead of holding a
60 MB answer in memory.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import certifi
import httpcore
import httpx

USER_AGENT = "Boxoffice/0.1 (+https://github.com/boxoffice)"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Largest answer we read by default: a panel's biggest legitimate answer (a page of 50 lines) is
# tens of kilobytes.
DEFAULT_MAX_RESPONSE_BYTES = 2 * 1024 * 1024

# time.monotonic() by which the current thread's HTTP calls must be done (None: no deadline).
_deadline: ContextVar[float | None] = ContextVar("boxoffice_http_deadline", default=None)


class ResponseTooLarge(httpx.HTTPError):
    """The answer is bigger than the caller's cap; it was not read to the end."""

    def __init__(self, message: str, *, limit: int):
        super().__init__(message)
        self.limit = limit


@contextlib.contextmanager
def http_deadline(seconds: float) -> Iterator[float]:
    """Every HTTP call made through `http_client` in this block ends within `seconds` in total.
    Nested deadlines keep the earlier one. Yields the absolute deadline (monotonic clock)."""
    current = _deadline.get()
    deadline = time.monotonic() + max(seconds, 0.0)
    if current is not None:
        deadline = min(deadline, current)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def http_deadline_remaining() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    remaining = http_deadline_remaining()
    if remaining is None:
        return timeout
    if remaining <= 0:
        raise error("the call's total deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(
                ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options=None,
    ) -> httpcore.NetworkStream:
        stream = super().connect_tcp(
            host,
            port,
            _bounded(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream)


class _DeadlineTransport(httpx.HTTPTransport):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        # httpx does not expose httpcore's network_backend; the pool reads it per connection.
        self._pool._network_backend = _DeadlineBackend()


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
    tls: ssl.SSLContext | bool = _verified_tls_context() if verify else False
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        verify=tls,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        follow_redirects=False,
        transport=transport or _DeadlineTransport(verify=tls),
    )


def http_read_capped(
    response: httpx.Response, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
) -> bytes:
    """The body of a response opened with `client.stream(...)`, refusing past `max_bytes`
    (announced by Content-Length or counted while streaming) without reading the rest."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise ResponseTooLarge(
            f"the answer announces {int(declared)} bytes, more than the {max_bytes} we read",
            limit=max_bytes,
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            response.close()
            raise ResponseTooLarge(
                f"the answer is longer than the {max_bytes} bytes we read", limit=max_bytes
            )
        chunks.append(chunk)
    return b"".join(chunks)
