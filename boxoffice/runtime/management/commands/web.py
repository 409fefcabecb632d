import os
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the web application with gunicorn (stateless; run as many as you like)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("BOXOFFICE_BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))

    def handle(self, *args, bind, workers, threads, **options):
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "boxoffice.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--graceful-timeout",
            "10",
            "--log-level",
            "warning",
            # Redacts order and login tokens from the access log (off unless enabled, e.g.
            # GUNICORN_CMD_ARGS="--access-logfile -") and the error log.
            "--logger-class",
            "boxoffice.lib.logging.GunicornLogger",
        ]
        os.execv(sys.executable, argv)  # noqa: S606 - replace this process with gunicorn
