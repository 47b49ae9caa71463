import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from stats.services import stats_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the statistics rollup from the clicks and conversions, for every day or from "
        "--since (UTC). Live writes wait while it runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", metavar="YYYY-MM-DD", help="first UTC day to recompute (default: all)")

    def handle(self, *args, since=None, **options):
        try:
            first_day = date.fromisoformat(since) if since else None
        except ValueError:
            raise CommandError(f"--since {since!r}: give a date as YYYY-MM-DD.") from None
        started = time.monotonic()
        stats_rebuild(since=first_day)
        scope = f"from {first_day}" if first_day else "for every day"
        self.stdout.write(f"Statistics rebuilt {scope} in {time.monotonic() - started:.1f}s.")
