"""Recording clicks and finding them again."""

from datetime import UTC, datetime

from tracking import buffer
from tracking.models import Click


def _row_to_click(row: dict) -> Click:
    return Click(**{**row, "created_at": datetime.fromtimestamp(row["created_at"], tz=UTC)})


def click_write_rows(rows: list[dict]) -> None:
    """Insert click rows; rows already written (a retried batch) are skipped."""
    Click.objects.bulk_create([_row_to_click(row) for row in rows], ignore_conflicts=True)


def click_record(row: dict) -> None:
    """Store a click: through the write buffer when it is on and reachable, else directly.

    `row` holds the Click fields with `offer_id` and `affiliate_id` as primary keys and
    `created_at` as a Unix timestamp.
    """
    if not buffer.push(row):
        click_write_rows([row])


def click_flush_buffer(*, max_seconds: float = 5.0) -> int:
    return buffer.flush(click_write_rows, max_seconds=max_seconds)


def click_get(click_id: str) -> Click | None:
    """The click with this id, wherever it is: a click still in the write buffer is written now.

    The buffer is asked first: its entry is removed only after the row is committed, so asking
    in this order never misses a click that is on its way to the database.
    """
    row = buffer.pending_row(click_id)
    if row is not None:
        click_write_rows([row])
    return Click.objects.filter(click_id=click_id).select_related("offer", "affiliate").first()
