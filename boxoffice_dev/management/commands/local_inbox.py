"""`boxoffice local-inbox`: an SMTP server on loopback that keeps what it receives as .eml files."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from boxoffice_dev.management.serve import serve_until_stopped
from boxoffice_dev.smtp_inbox import LocalInbox


class Command(BaseCommand):
    help = "Run the local inbox: SMTP on loopback; read the mail in the back office (Local inbox)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1025)
        parser.add_argument(
            "--dir", dest="directory", default=None, help="default: settings.LOCAL_INBOX_DIR"
        )

    def handle(self, *args, host, port, directory, verbosity=1, **options):
        # aiosmtpd logs every SMTP command at INFO: keep that for -v 2.
        logging.getLogger("mail.log").setLevel(logging.INFO if verbosity >= 2 else logging.WARNING)
        inbox = LocalInbox(
            host=host, port=port, directory=Path(directory or settings.LOCAL_INBOX_DIR)
        ).start()
        self.stdout.write(
            f"Local inbox: SMTP on {inbox.host}:{inbox.port}, messages kept in {inbox.directory}\n"
            "Read them in the back office at /backoffice/inbox/. Ctrl-C to stop."
        )
        serve_until_stopped(inbox.stop)
