import getpass
import secrets
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create (or reset the password of) a back-office operator."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--password", help="default: ask, or generate when there is no terminal"
        )
        parser.add_argument(
            "--if-none", action="store_true", help="do nothing if any operator exists"
        )

    def handle(self, *args, email, password=None, if_none=False, **options):
        User = get_user_model()
        if if_none and User.objects.filter(is_staff=True).exists():
            return
        email = email.strip().lower()
        if "@" not in email:
            raise CommandError(f"{email!r} is not an e-mail address")
        if password is None:
            if options.get("interactive", True) and self.stdin_is_tty():
                password = getpass.getpass("Password: ")
            else:
                password = secrets.token_urlsafe(12)
                self.stdout.write(f"generated password: {password}")
        user, created = User.objects.get_or_create(username=email, defaults={"email": email})
        user.email = email
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} operator {email}")

    @staticmethod
    def stdin_is_tty() -> bool:
        return sys.stdin is not None and sys.stdin.isatty()
