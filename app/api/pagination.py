"""List endpoints: ``limit``, ``before``, ``after`` and ``order``, with opaque keyset cursors."""

import base64

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


def page(query, column, args, serialize):
    """One page of ``query`` in the order of ``column`` (an integer that is unique).

    ``after`` continues in the list's order and ``before`` steps back. Returns the
    contract's list body, ``list_metadata`` always carrying both keys.
    """
    limit, order, before, after = list_params(args)
    backwards = before is not None
    walk_descending = (order == "desc") != backwards
    if before or after:
        mark = decode_cursor(before or after, "before" if backwards else "after")
        query = query.where(column < mark if walk_descending else column > mark)
    query = query.order_by(column.desc() if walk_descending else column.asc()).limit(limit + 1)
    rows = db.session.scalars(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    key = column.key
    has_before = (more if backwards else after is not None) and bool(rows)
    has_after = (True if backwards else more) and bool(rows)
    return {
        "object": "list",
        "data": [serialize(row) for row in rows],
        "list_metadata": {
            "before": encode_cursor(getattr(rows[0], key)) if has_before else None,
            "after": encode_cursor(getattr(rows[-1], key)) if has_after else None,
        },
    }
