from django.core.management.base import BaseCommand

from boxoffice.billing.config_as_code import config_export


class Command(BaseCommand):
    help = (
        "Print every panel, plan and payment gateway as a TOML file `boxoffice apply` accepts (secrets as "
        "<field>_env names, never their values)."
    )

    def handle(self, *args, **options):
        self.stdout.write(config_export())
