"""The message log as CSV: one header row, then a row per message, written batch by batch as the reads arrive.

Cells a spreadsheet would read as a formula (starting with =, +, -, @, a tab or a carriage return: a phone
number's +, a body someone wrote) get a leading apostrophe, which spreadsheets show as text and hide
(OWASP's advice against CSV injection). Dates are ISO 8601 in UTC. UTF-8, without a byte order mark.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime

from mycpaas.domain.clock import as_utc
from mycpaas.domain.messages import Message

HEADER = (
    "Sid",
    "AccountSid",
    "DateCreated",
    "DateSent",
    "DateUpdated",
    "Direction",
    "From",
    "To",
    "Status",
    "NumSegments",
    "Encoding",
    "Body",
    "ErrorCode",
    "ErrorMessage",
    "Price",
    "PriceUnit",
    "MessagingServiceSid",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell's text, quoted with an apostrophe when a spreadsheet would evaluate it."""
    if value is None:
        return ""
    text = as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _row(message: Message) -> tuple[object, ...]:
    return (
        message.sid,
        message.account_sid,
        message.created_at,
        message.sent_at,
        message.updated_at,
        message.direction.value,
        message.from_number,
        message.to_number,
        message.status.value,
        message.num_segments,
        message.encoding,
        message.body,
        message.error_code,
        message.error_message,
        message.price,
        message.price_unit,
        message.messaging_service_sid,
    )


async def csv_chunks(batches: AsyncIterator[list[Message]]) -> AsyncIterator[bytes]:
    """The header, then one chunk of rows per batch, encoded as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    yield buffer.getvalue().encode()
    async for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([safe_cell(value) for value in _row(message)] for message in batch)
        yield buffer.getvalue().encode()
