import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from stats.services import RebuildTooEarly, stats_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the statistics rollup from the clicks and conversions, from --since (UTC) or "
        "from the first day whose clicks are all still kept (CLICK_RETENTION_DAYS), which is also "
        "the earliest --since allowed. Live writes wait while it runs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            metavar="YYYY-MM-DD",
            help="first UTC day to recompute (default: the first day whose clicks are all kept)",
        )

    def handle(self, *args, since=None, **options):
        try:
            first_day = date.fromisoformat(since) if since else None
        except ValueError:
            raise CommandError(f"--since {since!r}: give a date as YYYY-MM-DD.") from None
        started = time.monotonic()
        try:
            first_day = stats_rebuild(since=first_day)
        except RebuildTooEarly as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Statistics rebuilt from {first_day} in {time.monotonic() - started:.1f}s.")
