from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from boxoffice.billing.config_as_code import config_apply
from boxoffice.catalog.config_as_code import ConfigError


class Command(BaseCommand):
    help = "Create or update panels, plans and payment gateways from a TOML file (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and report, change nothing"
        )
        parser.add_argument(
            "--no-panel-check",
            action="store_true",
            help="do not ask the panels whether the plans' bouquet/package ids exist there",
        )

    def handle(
        self, *args, file: Path, dry_run: bool = False, no_panel_check: bool = False, **options
    ):
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{file} is not UTF-8 text (byte {exc.start}): save it as UTF-8; nothing changed"
            ) from None
        try:
            check = not no_panel_check and settings.APPLY_CHECK_PANELS
            result = config_apply(text=text, dry_run=dry_run, check_panels=check)
        except ConfigError as exc:
            raise CommandError(
                f"{file} was not applied; nothing changed:\n  " + "\n  ".join(exc.problems)
            ) from None
        for label in result.created:
            self.stdout.write(f"created   {label}")
        for label in result.updated:
            self.stdout.write(f"updated   {label}")
        for warning in result.warnings:
            self.stderr.write(f"warning   {warning}")
        if not result.changed:
            self.stdout.write(
                f"{file}: nothing to change ({len(result.unchanged)} items up to date)"
            )
        elif dry_run:
            self.stdout.write("dry run: nothing was saved")
