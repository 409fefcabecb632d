from django.core.management.base import BaseCommand

from boxoffice.runtime.worker import run_worker


class Command(BaseCommand):
    help = "Run background work: panel operations, e-mail, and the scheduler that re-drives them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--threads", type=int, default=None, help="task threads (default WORKER_THREADS)"
        )
        parser.add_argument(
            "--interval", type=float, default=None, help="idle poll interval in seconds"
        )
        parser.add_argument("--no-scheduler", action="store_true", help="only run tasks")

    def handle(self, *args, threads=None, interval=None, no_scheduler=False, **options):
        status = run_worker(threads=threads, interval=interval, scheduler=not no_scheduler)
        if status:
            raise SystemExit(status)
