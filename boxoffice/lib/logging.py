"""Secrets in URLs stay out of the logs.

The order-status page, magic links, e-mail confirmation links and password resets carry their
token in the path: whoever reads `/order/<token>/` in a log can open the customer's line
credentials. `redact_secret_paths` replaces those segments; `RedactSecretsFilter` applies it to
every log record Django writes (settings.LOGGING), `GunicornLogger` to gunicorn's access and error
logs (`boxoffice web` passes it as `--logger-class`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping

from gunicorn.glogging import Logger as _GunicornBaseLogger
from gunicorn.glogging import SafeAtoms

REDACTED = "[redacted]"
_SEGMENT = r"[^/?#\s\"'<>]+"
# Words in those places that are pages, not tokens: "request" (the form asking for a magic
# link), Django's token-free "set-password" reset step and "done". Kept, so logs stay readable.
_NOT_SECRET = r"(?!(?:request|set-password|done)(?:[/?#\s\"'<>]|$))"
_SECRET_PATHS = re.compile(
    rf"(?P<prefix>/(?:order|portal/magic|portal/link)/){_NOT_SECRET}(?P<one>{_SEGMENT})"
    rf"|(?P<reset>/portal/reset/){_NOT_SECRET}(?P<uid>{_SEGMENT})"
    rf"(?:/{_NOT_SECRET}(?P<token>{_SEGMENT}))?"
)


def _replace(match: re.Match) -> str:
    if match.group("prefix"):
        return match.group("prefix") + REDACTED
    if match.group("token"):
        return f"{match.group('reset')}{REDACTED}/{REDACTED}"
    return match.group("reset") + REDACTED


def redact_secret_paths(text: str) -> str:
    """`text` with the token segments of secret-bearing URLs replaced by [redacted]."""
    if "/order/" not in text and "/portal/" not in text:  # the common case, cheaply
        return text
    return _SECRET_PATHS.sub(_replace, text)


def _redact_arg(value):
    if isinstance(value, str):
        redacted = redact_secret_paths(value)
        return value if redacted == value else redacted
    if value is None or isinstance(value, int | float):
        return value
    # e.g. a request object whose repr names its path: replaced by its redacted text only when
    # that text held a secret, so numbers and %d formats are left alone.
    text = str(value)
    redacted = redact_secret_paths(text)
    return value if redacted == text else redacted


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record in place (message and arguments), so every handler after this one
    sees the redacted record too. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_secret_paths(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redact_arg(a) for a in args)
        elif isinstance(args, MutableMapping):
            # In place: a mapping may be a dict subclass with lookup rules of its own (gunicorn).
            for key, value in list(args.items()):
                redacted = _redact_arg(value)
                if redacted is not value:
                    args[key] = redacted
        return True


class RedactedAtoms(SafeAtoms):
    """gunicorn's access-log fields (request line, path, referer, headers) with tokens redacted."""

    def __init__(self, atoms):
        super().__init__(
            {k: redact_secret_paths(v) if isinstance(v, str) else v for k, v in atoms.items()}
        )


class GunicornLogger(_GunicornBaseLogger):
    atoms_wrapper_class = RedactedAtoms

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecretsFilter) for f in log.filters):
                log.addFilter(RedactSecretsFilter())
