from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from boxoffice.lib.crypto import UnreadableSecrets
from boxoffice.panels.models import Panel


class Command(BaseCommand):
    help = "Check the configuration and that every enabled panel answers."

    def handle(self, *args, **options):
        call_command("check")
        failures = 0
        panels = Panel.objects.filter(enabled=True)
        if not panels:
            self.stdout.write(
                "no enabled panel: add one in the back office or with `boxoffice apply`"
            )
        for panel in panels:
            if isinstance(panel.secrets, UnreadableSecrets):
                failures += 1
                self.stdout.write(
                    f"FAIL  {panel.name}: its stored secrets cannot be decrypted with "
                    "FIELD_ENCRYPTION_KEYS (a key rotated away?): restore the key, or type the "
                    "secrets again in the back office"
                )
                continue
            try:
                report = panel.adapter().health()
            except ValueError as exc:  # e.g. a stored key that FIELD_ENCRYPTION_KEYS cannot decrypt
                failures += 1
                self.stdout.write(f"FAIL  {panel.name}: {exc}")
                continue
            if report.ok:
                self.stdout.write(f"ok    {panel.name}: answered in {report.latency_ms:.0f} ms")
            else:
                failures += 1
                self.stdout.write(f"FAIL  {panel.name}: {report.detail}")
        if failures:
            raise CommandError(f"{failures} panel(s) did not answer")
