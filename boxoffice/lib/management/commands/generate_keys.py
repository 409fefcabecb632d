import secrets

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print fresh SECRET_KEY and FIELD_ENCRYPTION_KEYS values for a production environment."
    requires_system_checks = []

    def handle(self, *args, **options):
        self.stdout.write(f"SECRET_KEY={secrets.token_urlsafe(50)}")
        self.stdout.write(f"FIELD_ENCRYPTION_KEYS={Fernet.generate_key().decode()}")
