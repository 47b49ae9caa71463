from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.services import api_key_issue


class Command(BaseCommand):
    help = (
        "Issue a new API key for USERNAME and print it alone on the last line. Keys are stored "
        "hashed, so an existing key cannot be shown again; the user's other keys keep working."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="manage.py api_key", help="A label for the key.")

    def handle(self, *args, username, name, **options):
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        try:
            _, raw_key = api_key_issue(user=user, name=name)
        except ValidationError as refused:
            raise CommandError(" ".join(refused.messages)) from None
        self.stderr.write(f"API key for {username} (shown once, store it now):")
        self.stdout.write(raw_key)
