"""DKIM signing of outgoing mail, for an operator who sends through a plain SMTP relay.

Mailbox providers (Gmail, Yahoo, Microsoft) ask bulk senders for a DKIM signature that covers the
From and the `List-Unsubscribe` headers. A mail provider reached through django-anymail signs
itself; an own relay often does not. With `DKIM_PRIVATE_KEY` (PEM, from the environment) or
`DKIM_PRIVATE_KEY_FILE` set, the SMTP backend below signs every message with `dkimpy` (relaxed/
relaxed, rsa-sha256) before it is handed to the relay; the public half goes into DNS as
`<selector>._domainkey.<domain>` (`boxoffice dkim-keygen` prints both).
"""

from __future__ import annotations

import base64
import smtplib
from email.utils import parseaddr
from functools import cache

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend
from django.core.mail.message import sanitize_address

# Signed when present; listing a header that is absent signs its absence, so a relay or an
# attacker cannot add one later (From, Subject and the unsubscribe pair matter most).
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
MIN_KEY_BITS = 1024


class DkimConfigError(ValueError):
    pass


def _key_pem(config) -> bytes:
    pem = (getattr(config, "DKIM_PRIVATE_KEY", "") or "").strip()
    path = getattr(config, "DKIM_PRIVATE_KEY_FILE", "") or ""
    if not pem and path:
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise DkimConfigError(f"DKIM_PRIVATE_KEY_FILE={path} cannot be read: {exc}") from None
    # One environment line: a PEM pasted with literal "\n" sequences works too.
    return pem.replace("\\n", "\n").encode()


def dkim_enabled(config=None) -> bool:
    config = config or settings
    return bool(
        (getattr(config, "DKIM_PRIVATE_KEY", "") or "").strip()
        or getattr(config, "DKIM_PRIVATE_KEY_FILE", "")
    )


def dkim_domain(config=None) -> str:
    """`DKIM_DOMAIN`, or the domain of DEFAULT_FROM_EMAIL (DMARC wants them aligned)."""
    config = config or settings
    domain = (getattr(config, "DKIM_DOMAIN", "") or "").strip().lower()
    if domain:
        return domain
    return parseaddr(config.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower()


@cache
def _loaded_key(pem: bytes) -> bytes:
    """The key as dkimpy reads it (PKCS#1 or PKCS#8 PEM), checked once per process."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimConfigError(
            f"the DKIM private key is not a PEM RSA private key ({exc})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimConfigError("the DKIM private key must be an RSA key (rsa-sha256)")
    if key.key_size < MIN_KEY_BITS:
        raise DkimConfigError(
            f"the DKIM key has {key.key_size} bits; mailbox providers ignore keys under "
            f"{MIN_KEY_BITS} (use 2048: boxoffice dkim-keygen)"
        )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def dkim_sign(raw: bytes, config=None) -> bytes:
    """`raw` (an RFC 5322 message, CRLF line ends) with a DKIM-Signature header in front."""
    config = config or settings
    key = _loaded_key(_key_pem(config))
    signature = dkim.sign(
        raw,
        selector=(getattr(config, "DKIM_SELECTOR", "") or "boxoffice").encode(),
        domain=dkim_domain(config).encode(),
        privkey=key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(SIGNED_HEADERS),
    )
    return signature + raw


def dns_record(public_pem: bytes) -> str:
    """The TXT value of `<selector>._domainkey.<domain>` for a public key (PEM)."""
    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def dkim_settings_problems(config) -> list[str]:
    """What a production start refuses about DKIM (nothing when it is not configured)."""
    if not dkim_enabled(config):
        return []
    problems = []
    try:
        _loaded_key(_key_pem(config))
    except DkimConfigError as exc:
        problems.append(f"DKIM_PRIVATE_KEY: {exc}.")
    domain = dkim_domain(config)
    from_domain = parseaddr(config.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower()
    if not domain:
        problems.append("DKIM_DOMAIN is not set and DEFAULT_FROM_EMAIL has no domain.")
    elif from_domain != domain and not from_domain.endswith("." + domain):
        problems.append(
            f"DKIM_DOMAIN={domain} does not match the From domain {from_domain}: DMARC needs "
            "them aligned, or mailbox providers treat the signature as someone else's."
        )
    if config.EMAIL_BACKEND != "boxoffice.messaging.dkim.DkimSmtpEmailBackend":
        problems.append(
            f"DKIM_PRIVATE_KEY is set but EMAIL_BACKEND={config.EMAIL_BACKEND} does not sign: "
            "leave EMAIL_BACKEND unset (SMTP with DKIM) or unset the key (a mail provider signs)."
        )
    return problems


class DkimSmtpEmailBackend(SmtpEmailBackend):
    """Django's SMTP backend, signing each message (DKIM) just before it goes to the relay."""

    def _send(self, email_message):
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        from_email = sanitize_address(email_message.from_email, encoding)
        recipients = [sanitize_address(addr, encoding) for addr in email_message.recipients()]
        raw = email_message.message().as_bytes(linesep="\r\n")
        if dkim_enabled():
            raw = dkim_sign(raw)
        try:
            self.connection.sendmail(from_email, recipients, raw)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True
