"""Line usernames and passwords.

Panels mangle anything but plain letters and digits (XUI trims and strips backslashes from every
request value), so both are restricted to [A-Za-z0-9]. A username is decided before the first
panel call and only ever changes by taking the next free numeric suffix (name -> name1 -> name2).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection

from django.db.models.functions import Lower

from boxoffice.provisioning.models import Line

USERNAME_RE = re.compile(r"^[A-Za-z0-9]{4,32}$")
MAX_USERNAME_LENGTH = 32
# Unambiguous characters: customers type these into TV remotes.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_WORDS = (
    "amber",
    "birch",
    "cedar",
    "delta",
    "ember",
    "fable",
    "gala",
    "harbor",
    "indigo",
    "jade",
    "koala",
    "lotus",
    "maple",
    "nova",
    "orbit",
    "pixel",
    "quartz",
    "river",
    "sierra",
    "tango",
    "umber",
    "velvet",
    "willow",
    "xenon",
    "yonder",
    "zephyr",
)


def password_generate(length: int = 12) -> str:
    if length < 8:
        raise ValueError("line passwords are at least 8 characters long")
    while True:
        value = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))
        # At least one digit and one letter, so no panel-side policy rejects it.
        if any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            return value


def username_base_for(email: str) -> str:
    """A readable stem from the customer's e-mail, e.g. 'jane.doe+tv@x' -> 'janedoe'."""
    local = email.split("@", 1)[0].split("+", 1)[0]
    stem = re.sub(r"[^A-Za-z0-9]", "", local).lower()[:12]
    if len(stem) < 4:
        stem = (stem + secrets.choice(_WORDS))[:12]
    return stem


def username_generate(*, email: str) -> str:
    """Readable and practically collision-free: stem + 4 random digits."""
    return f"{username_base_for(email)}{secrets.randbelow(9000) + 1000}"


def with_suffix(base: str, n: int) -> str:
    if n <= 0:
        return base
    suffix = str(n)
    return base[: MAX_USERNAME_LENGTH - len(suffix)] + suffix


def username_allocate(
    *,
    panel_id: int,
    requested: str,
    exclude_line_id: int | None = None,
    also_taken: Collection[str] = (),
) -> tuple[str, bool]:
    """The smallest free name among requested, requested1, requested2… on this panel as far as
    our own records know (and not in `also_taken`: names a concurrent reservation just took);
    the panel itself is asked when the line is created. Panels compare names without case
    (XUI One: `BOXTEST01` is `boxtest01`), so this does too."""
    also = {name.lower() for name in also_taken}
    # Exact look-ups of a batch of candidates (requested, requested1, ...) by lower(username):
    # the (panel, lower(username)) index answers them, whatever the number of lines.
    start = 0
    while True:
        candidates = [with_suffix(requested, n).lower() for n in range(start, start + 20)]
        taken = {
            name.lower()
            for name in Line.objects.alias(name_ci=Lower("username"))
            .filter(panel_id=panel_id, name_ci__in=candidates)
            .exclude(pk=exclude_line_id)
            .order_by()
            .values_list("username", flat=True)
        } | also
        for n, candidate in enumerate(candidates, start=start):
            if candidate not in taken:
                return with_suffix(requested, n), n > 0
        start += 20


def next_suffix_name(*, base: str, current: str) -> str:
    """The name after `current` in the sequence base, base1, base2…"""
    for n in range(0, 10_000):
        if with_suffix(base, n) == current:
            return with_suffix(base, n + 1)
    return with_suffix(base, 1)
