"""The export file formats: CSV (the columns, defined once below) and NDJSON.

Both are written from rows of ``export_query`` (app/exports/services.py): the events-table
columns, with ``occurred_at`` and ``received_at`` already formatted by the database as the
API prints times, and ``payload`` (the event as accepted) parsed once per row.
"""

import collections
import csv
import functools

import orjson

from app.timestamps import isoformat_exact

# A cell beginning with one of these is prefixed with "'" so that a spreadsheet shows it
# as text instead of running it as a formula. "'" itself is in the set so that the
# prefix can always be removed unambiguously: drop one leading "'" from any text cell.
FORMULA_STARTS = frozenset("=+-@\t\r'")


def json_cell(value):
    """A JSON value as compact UTF-8 text; nothing when absent."""
    return "" if value is None else orjson.dumps(value).decode()


# The CSV columns, in order: (header, value from the database row and the parsed payload).
# Columns may be appended, never reordered (the API contract).
CSV_COLUMNS = [
    ("id", lambda row, event: row.id),
    ("occurred_at", lambda row, event: row.occurred_at),
    ("received_at", lambda row, event: row.received_at),
    ("action", lambda row, event: row.action),
    ("version", lambda row, event: row.version),
    ("actor_type", lambda row, event: row.actor_type),
    ("actor_id", lambda row, event: row.actor_id),
    ("actor_name", lambda row, event: row.actor_name),
    ("actor_metadata", lambda row, event: json_cell(event["actor"].get("metadata"))),
    ("targets", lambda row, event: json_cell(event["targets"])),
    ("context_location", lambda row, event: row.location),
    ("context_user_agent", lambda row, event: row.user_agent),
    ("metadata", lambda row, event: json_cell(event.get("metadata"))),
    # The event's place in its organization's hash chain (docs/integrity.md).
    ("seq", lambda row, event: row.seq),
    ("hash", lambda row, event: row.hash),
]
CSV_HEADER = [header for header, _value in CSV_COLUMNS]
CSV_VALUES = [value for _header, value in CSV_COLUMNS]

# Fields NDJSON adds to the event as accepted: (name, value from the row), before and after
# the event's own fields. With them, each line holds the document its hash covers and the
# previous hash, so `flask audit verify-export` can check a file on its own
# (app/ledger/chain.py, docs/integrity.md).
NDJSON_LEADING = [("id", lambda row: row.id)]
NDJSON_TRAILING = [
    ("received_at", lambda row: exact_time(row.received_at_stored)),
    ("organization_id", lambda row: row.organization_id),
    ("seq", lambda row: row.seq),
    ("prev_hash", lambda row: row.prev_hash),
    ("hash", lambda row: row.hash),
]


def exact_time(stored):
    """A stored time as the hash chain writes it: milliseconds, or microseconds when it has
    them (``app.timestamps.isoformat_exact``). SQLite hands over its stored text,
    ``YYYY-MM-DD HH:MM:SS.ffffff``, reformatted here without parsing it."""
    if not isinstance(stored, str):
        return isoformat_exact(stored)
    end = 23 if stored.endswith("000") else 26
    return f"{stored[:10]}T{stored[11:end]}Z"


def csv_records(rows):
    """The CSV records of some rows (formula-like text neutralised, inline: this is the
    export's innermost loop)."""
    values, starts = CSV_VALUES, FORMULA_STARTS
    for row in plain(rows):
        event = orjson.loads(row.payload)
        yield [
            "'" + cell if cell.__class__ is str and cell[:1] in starts else cell
            for cell in [value(row, event) for value in values]
        ]


def plain(rows):
    """Database rows as named tuples: reading their fields by name is several times
    cheaper than on SQLAlchemy's rows, which counts at a dozen fields per row."""
    rows = list(rows)
    if not rows:
        return []
    return map(record_type(rows[0]._fields)._make, rows)


@functools.cache
def record_type(fields):
    """A named tuple type for rows with these fields."""
    return collections.namedtuple("ExportRow", fields)


def ndjson_line(row):
    """One event as accepted, plus the added fields, on one line; the stored JSON is kept
    byte for byte (the added fields are spliced in around it). The added fields are
    serialised as two small objects, opened and closed around the payload: one call of
    the encoder each instead of one per name and value (streams and exports call this for
    every event)."""
    leading = orjson.dumps({name: value(row) for name, value in NDJSON_LEADING})[:-1]
    trailing = orjson.dumps({name: value(row) for name, value in NDJSON_TRAILING})[1:]
    return f"{leading.decode()},{row.payload[1:-1]},{trailing.decode()}\n"


class CsvFormat:
    """UTF-8 with a byte order mark (spreadsheets then read it as UTF-8), RFC 4180 quoting
    (fields with commas, quotes or line breaks in double quotes) and CRLF line ends."""

    extension = "csv"
    mimetype = "text/csv"
    chained = False  # needs no previous hashes

    def __init__(self, handle):
        handle.write("\ufeff")
        self.writer = csv.writer(handle, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self.writer.writerow(CSV_HEADER)

    def write(self, rows):
        """Append some rows."""
        self.writer.writerows(csv_records(rows))


class NdjsonFormat:
    """One JSON object per line, UTF-8, no byte order mark."""

    extension = "ndjson"
    mimetype = "application/x-ndjson"
    chained = True  # each line carries its previous hash

    def __init__(self, handle):
        self.handle = handle

    def write(self, rows):
        """Append some rows."""
        self.handle.writelines(ndjson_line(row) for row in plain(rows))


FORMATS = {"csv": CsvFormat, "ndjson": NdjsonFormat}
