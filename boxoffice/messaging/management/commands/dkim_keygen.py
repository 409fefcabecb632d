"""`boxoffice dkim-keygen`: a fresh 2048-bit DKIM key pair, the private half for the environment
and the public half as the DNS record mailbox providers look up."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management.base import BaseCommand, CommandError

from boxoffice.messaging.dkim import dkim_domain, dns_record


class Command(BaseCommand):
    help = "Create a DKIM key pair: write the private key to a file, print the DNS TXT record."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--selector", default="boxoffice")
        parser.add_argument("--domain", default="", help="default: DKIM_DOMAIN or the From domain")
        parser.add_argument(
            "--out", required=True, help="file for the private key (created with mode 0600)"
        )
        parser.add_argument("--bits", type=int, default=2048, choices=[2048, 3072, 4096])

    def handle(self, *args, **options):
        out = Path(options["out"])
        if out.exists():
            raise CommandError(f"{out} exists: not overwriting a key (move it away first)")
        key = rsa.generate_private_key(public_exponent=65537, key_size=options["bits"])
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        domain = options["domain"] or dkim_domain()
        selector = options["selector"]
        self.stdout.write(f"Private key written to {out} (keep it secret).")
        self.stdout.write("Set in the environment:")
        self.stdout.write(f"  DKIM_PRIVATE_KEY_FILE={out.resolve()}")
        self.stdout.write(f"  DKIM_SELECTOR={selector}")
        self.stdout.write(f"  DKIM_DOMAIN={domain}")
        self.stdout.write(f"Publish this DNS TXT record at {selector}._domainkey.{domain}:")
        self.stdout.write(f"  {dns_record(public)}")
        self.stdout.write(
            "(A 2048-bit record is longer than 255 characters: DNS hosts that ask for it take "
            "it as several quoted strings, which resolvers join.)"
        )
