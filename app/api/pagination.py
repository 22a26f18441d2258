"""List endpoints: ``limit``, ``before``, ``after`` and ``order``, with opaque keyset cursors."""

import base64
from dataclasses import dataclass

from app.api.errors import ApiError
from app.extensions import db

ORDERS = {"desc": "desc", "normal": "desc", "asc": "asc"}
CURSOR_PREFIX = "c1:"


def encode_cursor(value):
    """An opaque cursor for a row's (integer) sort key."""
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor, name):
    """The sort key inside a cursor; 422 if it is not one this API gave out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith(CURSOR_PREFIX):
            value = int(raw.removeprefix(CURSOR_PREFIX))
            if 0 <= value < 2**63:
                return value
    except ValueError:
        pass
    raise ApiError(
        422,
        "Validation failed.",
        "validation_failed",
        [
            {
                "field": name,
                "code": "invalid_cursor",
                "message": f"{name} is not a cursor this API returned.",
            }
        ],
    )


def list_params(args):
    """Parse and check the list query parameters; every problem is reported at once."""
    problems = []
    try:
        limit = int(args.get("limit", "10"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        problems.append(
            {
                "field": "limit",
                "code": "out_of_range",
                "message": "limit must be an integer from 1 to 100.",
            }
        )
    order = args.get("order", "desc")
    if order not in ORDERS:
        problems.append(
            {
                "field": "order",
                "code": "invalid_value",
                "message": "order must be desc, asc or normal.",
            }
        )
    before, after = args.get("before") or None, args.get("after") or None
    if before and after:
        problems.append(
            {"field": "before", "code": "conflict", "message": "Give before or after, not both."}
        )
    if problems:
        raise ApiError(422, "Validation failed.", "validation_failed", problems)
    return limit, ORDERS[order], before, after


@dataclass(frozen=True)
class Window:
    """Where a list request's page lies: ``limit`` rows past ``mark`` (a row's sort key,
    exclusive; ``None`` from the start), walking ``descending`` or not. ``before`` walks
    backwards from its cursor and the rows are turned round (``backwards``)."""

    limit: int
    descending: bool
    mark: int | None
    backwards: bool
    after: bool  # an ``after`` cursor was given


def window(args):
    """The page a request asks for (422 for bad parameters)."""
    limit, order, before, after = list_params(args)
    backwards = before is not None
    cursor = before or after
    mark = decode_cursor(cursor, "before" if backwards else "after") if cursor else None
    return Window(limit, (order == "desc") != backwards, mark, backwards, after is not None)


def body(found, rows, key, serialize, poll=False):
    """The contract's list body for ``rows``: up to ``found.limit`` + 1 of them in walk
    order, the extra one telling that there is more. ``list_metadata`` always carries both
    keys. ``poll``: ``after`` is set at the end too (where to continue once more rows come),
    as long as there is a position to continue from."""
    more = len(rows) > found.limit
    rows = rows[: found.limit]
    if found.backwards:
        rows.reverse()
    has_before = (more if found.backwards else found.after) and bool(rows)
    has_after = (True if found.backwards else more) and bool(rows)
    after = encode_cursor(getattr(rows[-1], key)) if has_after else None
    if poll and after is None:
        if rows:
            after = encode_cursor(getattr(rows[-1], key))
        elif found.mark is not None and not found.backwards:
            after = encode_cursor(found.mark)
    return {
        "object": "list",
        "data": [serialize(row) for row in rows],
        "list_metadata": {
            "before": encode_cursor(getattr(rows[0], key)) if has_before else None,
            "after": after,
        },
    }


def page(query, column, args, serialize):
    """One page of ``query`` in the order of ``column`` (an integer that is unique).

    ``after`` continues in the list's order and ``before`` steps back.
    """
    found = window(args)
    if found.mark is not None:
        query = query.where(column < found.mark if found.descending else column > found.mark)
    order = column.desc() if found.descending else column.asc()
    rows = db.session.scalars(query.order_by(order).limit(found.limit + 1)).all()
    return body(found, rows, column.key, serialize)
