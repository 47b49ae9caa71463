"""The one way the portal answers a file of an affiliate's data."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A text cell as a spreadsheet shows it, never runs it: sub values, titles and goal values
    come from links anyone can click and from advertisers, so one that would start a formula is
    written with a leading quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_download(rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    """`rows` as the CSV attachment `filename`, streamed row by row so that a long period needs no
    memory. (Like every answer to a signed-in user, it is marked `no-store`:
    config.middleware.PrivateAnswersNotStored.)"""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class _Echo:
    """A file for csv.writer that hands each line back instead of storing it."""

    def write(self, value):
        return value
