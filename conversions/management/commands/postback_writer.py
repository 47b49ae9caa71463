from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from conversions.recording import HIT_BATCH_MAX, hits_record_wired
from conversions.writer import serve


class Command(BaseCommand):
    help = "Record the postbacks of this node's web processes in shared batches (conversions.writer)."

    def handle(self, *args, **options):
        if not settings.POSTBACK_WRITER_SOCKET:
            raise CommandError("Set POSTBACK_WRITER_SOCKET to the Unix socket path the web processes use.")
        path = settings.POSTBACK_WRITER_SOCKET
        serve(
            path,
            hits_record_wired,
            max_batch=HIT_BATCH_MAX,
            ready=lambda: self.stdout.write(f"Postback writer listening on {path}", ending="\n"),
        )
