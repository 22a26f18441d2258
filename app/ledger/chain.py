"""The hash chain: each event's canonical document, its hash, and appending to the chain.

The one insert path (``Appender.append`` in app/ledger/append.py) calls ``number_all``
inside its inserting transaction, with the ``document_parts`` prepared beforehand. The
algorithm is specified in docs/integrity.md; keep the two in step.
"""

import functools
import hashlib
import json
from contextlib import contextmanager

import orjson

from app.ledger.models import GENESIS_HASH, Event
from app.timestamps import isoformat_exact

EVENTS = Event.__table__
# The fields an event's document adds to the stored event (which never has them).
CHAIN_FIELDS = ("id", "organization_id", "received_at", "seq")

# Straight to the driver: the writer runs them in every transaction, on its critical path.
# The statements are fixed text; every value is bound.
HEAD = {
    "sqlite": "SELECT seq, hash FROM chain_heads WHERE organization_id = ?",
    "postgresql": "SELECT seq, hash FROM chain_heads WHERE organization_id = %s FOR UPDATE",
}
MOVE_HEAD = {
    "sqlite": "UPDATE chain_heads SET seq = ?, hash = ? WHERE organization_id = ?",
    "postgresql": "UPDATE chain_heads SET seq = %s, hash = %s WHERE organization_id = %s",
}
NEW_HEAD = {  # an empty chain, unless another transaction just created it
    "sqlite": "INSERT INTO chain_heads (organization_id, seq, hash, purged_through_seq, "
    "purged_through_hash) VALUES (?, 0, ?, 0, ?) ON CONFLICT (organization_id) DO NOTHING",
    "postgresql": "INSERT INTO chain_heads (organization_id, seq, hash, purged_through_seq, "
    "purged_through_hash) VALUES (%s, 0, %s, 0, %s) ON CONFLICT (organization_id) DO NOTHING",
}


def document(payload, event_id, org_id, received_at, seq):
    """The document an event's hash covers: the stored event and where it sits in the log."""
    return {
        **payload,
        "id": event_id,
        "organization_id": org_id,
        "received_at": received_at_text(received_at),
        "seq": seq,
    }


@functools.lru_cache(maxsize=64)
def received_at_text(received_at):
    """``received_at`` as the document writes it (cached: a batch's events share one)."""
    return isoformat_exact(received_at)


def canonical_bytes(doc):
    """The document as canonical JSON: sorted keys, no whitespace, UTF-8, nothing escaped
    that JSON does not require.

    The definition is Python's ``json.dumps(doc, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)``; orjson writes the same bytes faster for every document without
    a fractional number, whose notation differs between the two (e.g. ``1e-06``).
    """
    return canonical_json(doc, has_float(doc))


def canonical_json(value, holds_float):
    """Any JSON value as the canonical JSON above; ``holds_float``: whether a fractional
    number may be in it (then Python's json writes it)."""
    if not holds_float:
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits: json's turn
            pass
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def has_float(doc):
    """Whether a metadata value is a float: the only place an accepted event has one.
    (Also asked of each event of a request body, for its fingerprint.)

    (A document of another shape is not an accepted event, and fails verification
    whichever serializer wrote it.)
    """
    actor, targets = doc.get("actor"), doc.get("targets")
    holders = [doc, actor, *(targets if isinstance(targets, list) else [])]
    sources = [holder.get("metadata") for holder in holders if isinstance(holder, dict)]
    return any(
        isinstance(value, float)
        for source in sources
        if isinstance(source, dict)
        for value in source.values()
    )


def chain_hash(previous_hash, doc):
    """SHA-256, in lower-case hex, of the previous hash (64 ASCII hex characters) followed
    by the document's canonical bytes."""
    return hashlib.sha256(previous_hash.encode() + canonical_bytes(doc)).hexdigest()


def lock_head(cursor, dialect, org_id):
    """The organization's chain head ``(seq, hash)``, locked until the transaction ends.

    ``cursor`` is the driver's own, inside the inserting transaction; ``dialect`` is
    ``"sqlite"`` or ``"postgresql"``. PostgreSQL: ``SELECT ... FOR UPDATE`` on its
    chain_heads row (created first if missing), so concurrent transactions of one
    organization append one after another. SQLite: the transaction already holds the
    database's only write lock.
    """
    cursor.execute(HEAD[dialect], (org_id,))
    head = cursor.fetchone()
    if head is None:
        cursor.execute(NEW_HEAD[dialect], (org_id, GENESIS_HASH, GENESIS_HASH))
        cursor.execute(HEAD[dialect], (org_id,))
        head = cursor.fetchone()
    return head[0], head[1]


def row_parts(row):
    """``document_parts`` of an events-table row (its ``payload`` is the stored JSON)."""
    payload = orjson.loads(row["payload"])
    return document_parts(payload, row["id"], row["organization_id"], row["received_at"])


def document_parts(payload, event_id, org_id, received_at):
    """``(head, tail)``: the canonical bytes of the event's document (``document``) before
    and after its sequence number, which is only known under the chain lock:
    ``canonical_bytes(document(..., seq)) == head + str(seq).encode() + tail``.

    The document is one flat object with sorted keys, and ``seq`` is one of its top-level
    keys (an accepted event has no key of that name): the keys sorting before it make the
    head, those after it the tail. Built where the event is accepted, so that the writer,
    one event after another under the lock, only hashes.
    """
    doc = document(payload, event_id, org_id, received_at, 0)
    holds_float = has_float(doc)
    lower = {key: value for key, value in doc.items() if key < "seq"}
    upper = {key: value for key, value in doc.items() if key > "seq"}
    head = canonical_json(lower, holds_float)[:-1] + b',"seq":'
    tail = b"," + canonical_json(upper, holds_float)[1:] if upper else b"}"
    return head, tail


def link(cursor, dialect, org_id, parts):
    """Append documents (their ``document_parts``, in order) to the organization's chain:
    lock its head, number and hash each, move the head. Returns ``[(seq, hash), ...]``.

    Each hash is ``chain_hash(previous hash, document)``, from the parts."""
    seq, previous = lock_head(cursor, dialect, org_id)
    numbered = []
    for head, tail in parts:
        seq += 1
        previous = hashlib.sha256(
            b"".join((previous.encode(), head, str(seq).encode(), tail))
        ).hexdigest()
        numbered.append((seq, previous))
    cursor.execute(MOVE_HEAD[dialect], (seq, previous, org_id))
    return numbered


def number_all(cursor, dialect, org_ids, parts):
    """``[(seq, hash), ...]`` for documents of any organizations (each one's
    organization id and ``document_parts``), in list order: each organization's
    documents ``link``-ed in list order, the chains locked in organization id order (two
    transactions that lock the same organizations never wait for each other in a
    cycle)."""
    by_org = {}
    for index, org_id in enumerate(org_ids):
        by_org.setdefault(org_id, []).append(index)
    numbered = [None] * len(parts)
    for org_id in sorted(by_org):
        indexes = by_org[org_id]
        linked = link(cursor, dialect, org_id, [parts[index] for index in indexes])
        for index, pair in zip(indexes, linked, strict=True):
            numbered[index] = pair
    return numbered


@contextmanager
def driver_cursor(connection):
    """``(cursor, dialect)``: the driver's cursor of a SQLAlchemy connection, in its
    transaction, for the functions above."""
    cursor = connection.connection.cursor()
    try:
        yield cursor, connection.dialect.name
    finally:
        cursor.close()
