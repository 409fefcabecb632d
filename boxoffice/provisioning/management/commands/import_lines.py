"""`boxoffice import-lines --panel NAME [--plan SLUG] [--dry-run]`: bring a panel's lines in."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from django.core.management.base import BaseCommand, CommandError

from boxoffice.catalog.models import Plan
from boxoffice.panels.adapters.base import PanelError
from boxoffice.panels.models import Panel
from boxoffice.provisioning.imports import ImportRefused, lines_import


class ProgressBar:
    """A plain progress bar on a stream: lines read of the panel's count, rate, elapsed. On a
    terminal it redraws one line; elsewhere (a log, a pipe) it prints a line every 10 %."""

    WIDTH = 30

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.started = time.monotonic()
        self.tty = stream.isatty()
        self.last_decile = -1

    def __call__(self, done: int, total: int | None) -> None:
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        if total:
            share = min(done / total, 1.0)
            filled = int(share * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            text = f"[{bar}] {done}/{total} lines {share:4.0%} {rate:6.0f}/s {elapsed:5.1f}s"
            decile = int(share * 10)
        else:
            text = f"{done} lines {rate:6.0f}/s {elapsed:5.1f}s"
            decile = done // 1000
        if self.tty:
            self.stream.write("\r" + text)
        elif decile != self.last_decile:
            self.stream.write(text + "\n")
        self.last_decile = decile
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Bring an existing panel's lines in: customers matched by an e-mail in the line's "
        "notes or created as placeholders; expiry, connections, bouquets and the trial flag "
        "kept; nothing is changed on the panel. Running it twice adds nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--panel", required=True, help="the panel's name in the back office")
        parser.add_argument(
            "--plan", help="plan slug for lines whose bouquets or package no plan maps to"
        )
        parser.add_argument("--dry-run", action="store_true", help="read and report; write nothing")
        parser.add_argument("--page-size", type=int, default=500)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args, **options) -> None:
        panel = Panel.objects.filter(name=options["panel"]).first()
        if panel is None:
            names = ", ".join(Panel.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No panel named {options['panel']!r} (panels: {names}).")
        plan = None
        if options["plan"]:
            plan = Plan.objects.filter(slug=options["plan"]).first()
            if plan is None:
                raise CommandError(f"No plan with slug {options['plan']!r}.")
        # The bar draws with "\r", so it writes to the raw stream, not Django's line wrapper.
        stream = getattr(self.stderr, "_out", sys.stderr)
        bar = None if options["no_progress"] else ProgressBar(stream)
        try:
            report = lines_import(
                panel=panel,
                plan=plan,
                dry_run=options["dry_run"],
                page_size=max(1, options["page_size"]),
                progress=bar,
            )
        except ImportRefused as exc:
            raise CommandError(str(exc)) from None
        except PanelError as exc:
            raise CommandError(
                f"The panel did not answer as expected ({exc}); nothing more was imported. "
                "Lines already imported stay; run it again to go on."
            ) from None
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(("Dry run: " if report.dry_run else "") + str(report))
        for problem in report.problems:
            self.stdout.write(f"  not imported: {problem}")
        if report.problem_count > len(report.problems):
            self.stdout.write(f"  … and {report.problem_count - len(report.problems)} more")
