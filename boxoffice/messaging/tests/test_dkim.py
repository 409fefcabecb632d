"""DKIM: a signed mail, as the relay received it on loopback, verifies with dkimpy itself."""

from __future__ import annotations

import re

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management import call_command

from boxoffice.messaging.dkim import dkim_settings_problems, dns_record
from boxoffice.messaging.production import mail_settings_problems
from boxoffice.messaging.services import message_create, message_send

pytestmark = pytest.mark.django_db

BACKEND = "boxoffice.messaging.dkim.DkimSmtpEmailBackend"


def _rsa_pem(bits=2048):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,  # what `openssl genpkey` writes
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _dns(record: str):
    def lookup(name, timeout=5):
        assert name == b"mail2026._domainkey.shop.example."
        return record.encode()

    return lookup


def _send_and_read(smtp_inbox, **headers) -> bytes:
    message, _ = message_create(
        kind="test_offer",
        to_email="ana@example.net",
        subject="Your week with Shop — ¿qué tal?",
        body_text="Hello Ana,\n\nA line with trailing spaces   \nand unicode: ü ß ع\n",
        body_html="<p>Hello Ana</p><p>unicode: ü ß ع</p>",
        dedupe_key=None,
        headers=headers,
    )
    assert message_send(message_id=message.pk) == "sent"
    smtp_inbox.wait_for(1)
    [path] = smtp_inbox.directory.glob("*.eml")  # the raw bytes, as the relay received them
    raw = path.read_bytes()
    # The local inbox puts the envelope in front (X-MailFrom / X-RcptTo); unsigned, harmless.
    return raw


@pytest.fixture
def dkim_settings(settings, smtp_inbox):
    private, public = _rsa_pem()
    settings.EMAIL_BACKEND = BACKEND
    settings.DKIM_PRIVATE_KEY = private.decode()
    settings.DKIM_SELECTOR = "mail2026"
    settings.DKIM_DOMAIN = ""
    settings.DEFAULT_FROM_EMAIL = "Shop <noreply@shop.example>"
    return dns_record(public)


def test_a_signed_mail_verifies_and_covers_the_unsubscribe_headers(dkim_settings, smtp_inbox):
    raw = _send_and_read(
        smtp_inbox,
        **{
            "List-Unsubscribe": "<https://shop.example/u/abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    assert raw.count(b"DKIM-Signature:") == 1
    assert dkim.verify(raw, dnsfunc=_dns(dkim_settings))
    signature = raw[raw.index(b"DKIM-Signature:") :].split(b"\r\n\r\n")[0]
    signed = re.search(rb"h=([^;]+);", re.sub(rb"\s+", b"", signature)).group(1).split(b":")
    assert {b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post"} <= set(signed)
    assert b"d=shop.example" in signature and b"s=mail2026" in signature


def test_a_changed_subject_or_body_no_longer_verifies(dkim_settings, smtp_inbox):
    raw = _send_and_read(smtp_inbox)
    assert dkim.verify(raw, dnsfunc=_dns(dkim_settings))
    forged_subject = re.sub(rb"Subject: [^\r\n]+", b"Subject: Pay here now", raw, count=1)
    assert not dkim.verify(forged_subject, dnsfunc=_dns(dkim_settings))
    forged_body = raw.replace(b"Hello Ana", b"Hello Bob")
    assert forged_body != raw
    assert not dkim.verify(forged_body, dnsfunc=_dns(dkim_settings))


def test_a_key_signed_by_another_key_does_not_verify(dkim_settings, smtp_inbox):
    _, other_public = _rsa_pem()
    raw = _send_and_read(smtp_inbox)
    assert not dkim.verify(raw, dnsfunc=_dns(dns_record(other_public)))


def test_without_a_key_the_mail_goes_unsigned(settings, smtp_inbox):
    settings.EMAIL_BACKEND = BACKEND
    settings.DKIM_PRIVATE_KEY = ""
    settings.DKIM_PRIVATE_KEY_FILE = ""
    raw = _send_and_read(smtp_inbox)
    assert b"DKIM-Signature" not in raw


def test_production_refuses_a_broken_weak_or_misaligned_key(settings):
    settings.EMAIL_BACKEND = BACKEND
    settings.DEFAULT_FROM_EMAIL = "Shop <noreply@shop.example>"
    settings.DKIM_DOMAIN = ""
    settings.DKIM_PRIVATE_KEY_FILE = ""
    settings.DKIM_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"
    assert any("not a PEM RSA private key" in p for p in dkim_settings_problems(settings))
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings.DKIM_PRIVATE_KEY = ec_key.decode()
    assert any("must be an RSA key" in p for p in dkim_settings_problems(settings))
    good, _ = _rsa_pem()
    settings.DKIM_PRIVATE_KEY = good.decode()
    assert dkim_settings_problems(settings) == []
    settings.DKIM_DOMAIN = "other.example"
    assert any("aligned" in p for p in dkim_settings_problems(settings))
    settings.DKIM_DOMAIN = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert any("does not sign" in p for p in mail_settings_problems(settings))


def test_keygen_writes_a_private_key_and_prints_a_record_that_verifies(
    tmp_path, settings, smtp_inbox, capsys
):
    out = tmp_path / "dkim.pem"
    settings.DEFAULT_FROM_EMAIL = "Shop <noreply@shop.example>"
    call_command("dkim_keygen", out=str(out), selector="mail2026")
    assert out.stat().st_mode & 0o777 == 0o600
    printed = capsys.readouterr().out
    record = re.search(r"(v=DKIM1; k=rsa; p=\S+)", printed).group(1)
    assert "mail2026._domainkey.shop.example" in printed
    settings.EMAIL_BACKEND = BACKEND
    settings.DKIM_PRIVATE_KEY = ""
    settings.DKIM_PRIVATE_KEY_FILE = str(out)
    settings.DKIM_SELECTOR = "mail2026"
    settings.DKIM_DOMAIN = ""
    raw = _send_and_read(smtp_inbox)
    assert dkim.verify(raw, dnsfunc=_dns(record))
    with pytest.raises(Exception, match="not overwriting"):
        call_command("dkim_keygen", out=str(out))
