from django.core.management.base import BaseCommand

from boxoffice.lib.keys import production_keys_lines


class Command(BaseCommand):
    """`boxoffice generate-keys` runs the same function without loading settings (see cli.py):
    this command is for `manage.py` and `call_command`."""

    help = "Print fresh SECRET_KEY and FIELD_ENCRYPTION_KEYS values for a production environment."
    requires_system_checks = []

    def handle(self, *args, **options):
        for line in production_keys_lines():
            self.stdout.write(line)
