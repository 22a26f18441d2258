"""Verifying an organization's chain: walk its events in seq order, page by page, and
report the first one that is changed, missing or out of order.

Used by ``flask audit verify``, the dashboard's background verification, and the
retention purge (which checks what it is about to delete).
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import select

from app import database
from app.extensions import db
from app.ledger import search
from app.ledger.chain import canonical_bytes, chain_hash, document
from app.ledger.models import GENESIS_HASH, ChainHead, Event, EventTarget

PAGE_SIZE = 1000
# How far ahead a hash mismatch looks for the place an event was recorded at (reordering).
LOOKAHEAD = 50


class Problem:
    """The kinds of problem a walk reports."""

    CHANGED = "changed"
    MISSING = "missing"
    OUT_OF_ORDER = "out_of_order"


@dataclass
class Finding:
    """The first bad sequence number, what is wrong, and how we know."""

    seq: int
    problem: str
    message: str


@dataclass
class Head:
    """The chain as it stood when a walk started."""

    seq: int
    hash: str
    purged_through_seq: int
    purged_through_hash: str
    purged_at: datetime | None = None

    @property
    def count(self):
        """How many events the chain holds now (those after the purge checkpoint)."""
        return self.seq - self.purged_through_seq


@dataclass
class Result:
    """What a walk found: ``finding`` is ``None`` when everything verified."""

    org_id: str
    head: Head
    checked: int
    finding: Finding | None

    @property
    def ok(self):
        """Whether the chain verified."""
        return self.finding is None


def read_head(org_id):
    """The organization's chain head (an empty chain if it never had an event)."""
    head = db.session.get(ChainHead, org_id)
    if head is None:
        return Head(0, GENESIS_HASH, 0, GENESIS_HASH)
    return Head(
        head.seq, head.hash, head.purged_through_seq, head.purged_through_hash, head.purged_at
    )


def verify_chain(org_id, progress: Callable[[int], None] | None = None, page_size=PAGE_SIZE):
    """Walk the organization's chain from its purge checkpoint to the head it had when the
    walk began; ``progress(n)`` is called after each page with the events it checked."""
    with database.reads():  # each page reads in its own short transaction
        head = read_head(org_id)
    walk = Walk(org_id, head.purged_through_seq, head.purged_through_hash)
    while walk.seq < head.seq and walk.finding is None:
        # A page's events and their targets as of one moment.
        with database.reads(snapshot=True):
            page = read_page(org_id, walk.seq, head.seq, page_size)
            checked = walk.check(page)
        if not page:
            walk.report(walk.gap(head))
        elif progress is not None:
            progress(checked)
    if walk.finding is None:
        walk.finish(head)
    return Result(org_id, head, walk.checked, walk.finding)


@dataclass
class StoredEvent:
    """An events row as verification reads it, with its event_targets rows."""

    row: object
    targets: list


def read_page(org_id, after_seq, through_seq, limit):
    """Events with ``after_seq < seq <= through_seq`` in seq order, with their targets."""
    rows = db.session.execute(
        select(Event.__table__)
        .where(
            Event.organization_id == org_id,
            Event.seq > after_seq,
            Event.seq <= through_seq,
        )
        .order_by(Event.seq)
        .limit(limit)
    ).all()
    targets = {}
    if rows:
        for target in db.session.execute(
            select(EventTarget.__table__)
            .where(EventTarget.event_id.in_([row.id for row in rows]))
            .order_by(EventTarget.event_id, EventTarget.position, EventTarget.pk)
        ):
            targets.setdefault(target.event_id, []).append(target)
    return [StoredEvent(row, targets.get(row.id, [])) for row in rows]


class Walk:
    """The state of a walk along one chain: the last good seq and hash."""

    def __init__(self, org_id, seq, previous_hash, follow_purges=True):
        self.org_id = org_id
        # A walk in its own read transactions may see a purge delete what it was about
        # to read; the purge's own walk holds the chain lock, so it never does.
        self.follow_purges = follow_purges
        self.seq = seq
        self.previous = previous_hash
        self.checked = 0
        self.finding = None

    def check(self, page):
        """Check a page of events in seq order; stop at the first problem. Returns how
        many events were checked."""
        before = self.checked
        index = 0
        while index < len(page) and self.finding is None:
            stored = page[index]
            if stored.row.seq <= self.seq:  # a purge during the walk deleted it since
                index += 1
                continue
            finding = self.check_one(stored, page[index + 1 :])
            if finding is None:
                self.seq, self.previous = stored.row.seq, stored.row.hash
                self.checked += 1
                index += 1
            else:
                self.report(finding)  # or, after a purge, check this event again
        return self.checked - before

    def report(self, finding):
        """Report a finding, unless a purge that ran during the walk deleted its seq (a
        page read before the purge, a gap after it): then carry on from the purge."""
        if not self.purged_meanwhile(finding.seq):
            self.finding = finding

    def gap(self, head):
        """The events after the walk's last good seq, up to the head, that are not there."""
        first = self.seq + 1
        which = f"seq {first}" if first == head.seq else f"seq {first} to {head.seq}"
        return Finding(
            first,
            Problem.MISSING,
            f"Events are missing: {which} (the chain head is at seq {head.seq}).",
        )

    def check_one(self, stored, following):
        """The problem with one event, given the chain so far (``None`` if it verifies)."""
        row = stored.row
        expected = self.seq + 1
        if row.seq != expected:
            last = row.seq - 1
            which = f"seq {expected}" if last == expected else f"seq {expected} to {last}"
            return Finding(expected, Problem.MISSING, f"Events are missing: {which}.")
        try:
            payload = orjson.loads(row.payload)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except (orjson.JSONDecodeError, ValueError):
            return Finding(
                row.seq, Problem.CHANGED, f"Event {row.id}: its stored JSON is not an event."
            )
        computed = chain_hash(
            self.previous, document(payload, row.id, row.organization_id, row.received_at, row.seq)
        )
        if computed != row.hash:
            return self.hash_finding(stored, payload, following)
        disagreement = columns_disagreement(row, payload, stored.targets)
        if disagreement:
            return Finding(row.seq, Problem.CHANGED, f"Event {row.id}: {disagreement}")
        return None

    def purged_meanwhile(self, seq):
        """Whether a retention purge deleted ``seq`` during the walk (its checkpoint is now
        at or past it, and past the walk); if so, carry on from the new checkpoint."""
        if not self.follow_purges:
            return False
        database.read_afresh()  # the page's snapshot would predate the purge
        head = db.session.get(ChainHead, self.org_id, populate_existing=True)
        if head is None or head.purged_through_seq < max(seq, self.seq + 1):
            return False
        self.seq, self.previous = head.purged_through_seq, head.purged_through_hash
        return True

    def hash_finding(self, stored, payload, following):
        """A hash that does not match: an event that belongs elsewhere in the chain (out of
        order), else a change to the event or to the one before it."""
        row = stored.row
        if len(following) < LOOKAHEAD:  # the page ends soon: look at the next events too
            following = read_page(self.org_id, row.seq, row.seq + LOOKAHEAD, LOOKAHEAD)
        # Intact but moved: its hash matches its content at another seq, after an event
        # near it (the chain's own order was changed).
        previous_hashes = [self.previous] + [s.row.hash for s in following]
        low = max(1, row.seq - LOOKAHEAD)
        for seq in range(low, row.seq + LOOKAHEAD + 1):
            if seq == row.seq:
                continue
            doc = canonical_bytes(
                document(payload, row.id, row.organization_id, row.received_at, seq)
            )
            if any(sha256_hex(p.encode() + doc) == row.hash for p in previous_hashes):
                return Finding(
                    row.seq,
                    Problem.OUT_OF_ORDER,
                    f"Event {row.id} is at seq {row.seq} but was recorded at seq {seq}: "
                    "events were reordered.",
                )
        return Finding(
            row.seq,
            Problem.CHANGED,
            f"Event {row.id}: its hash does not match its content and the chain before it "
            "(the event, or its hash, was changed).",
        )

    def finish(self, head):
        """After the last page: the walk ends at the head it started from (or past it, when
        it followed a purge that deleted the head too), whose hash must be the last one."""
        if self.seq == head.seq and self.previous != head.hash:
            self.report(
                Finding(
                    head.seq,
                    Problem.CHANGED,
                    f"The chain head's hash does not match the event at seq {head.seq}.",
                )
            )


def sha256_hex(data):
    """SHA-256 of bytes, in lower-case hex."""
    return hashlib.sha256(data).hexdigest()


def columns_disagreement(row, payload, targets):
    """How the indexed columns or target rows disagree with the stored event, or ``None``.

    The viewer and exports read these columns, so an edit to them is an edit to the log
    even though the hash covers the stored JSON.
    """
    try:
        expected = expected_columns(payload)
        expected_targets = expected_target_rows(row, payload)
    except (KeyError, TypeError, ValueError, AttributeError):
        return "its stored JSON lacks fields every event has."
    for name, value in expected.items():
        if getattr(row, name) != value:
            return f"column {name} disagrees with the stored event."
    found = [
        (t.organization_id, t.position, t.type, t.target_id, t.name, t.occurred_at) for t in targets
    ]
    if found != expected_targets:
        return "its target rows disagree with the stored event."
    return None


def expected_columns(payload):
    """The events-table columns an event's stored JSON implies."""
    actor, context = payload["actor"], payload["context"]
    return {
        "action": payload["action"],
        "version": payload.get("version") or 1,
        "occurred_at": parse_time(payload["occurred_at"]),
        "actor_type": actor["type"],
        "actor_id": actor["id"],
        "actor_name": actor.get("name"),
        "location": context["location"],
        "user_agent": context.get("user_agent"),
        # Derived, not shown; an edit could hide the event from searches.
        "search_text": search.haystack(
            payload["action"], actor.get("name"), [t.get("name") for t in payload["targets"]]
        ),
    }


def expected_target_rows(row, payload):
    """The event_targets rows an event's stored JSON implies, in position order."""
    occurred_at = parse_time(payload["occurred_at"])
    return [
        (row.organization_id, position, t["type"], t["id"], t.get("name"), occurred_at)
        for position, t in enumerate(payload["targets"])
    ]


def parse_time(value):
    """A stored ``occurred_at`` (UTC, ``Z``) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class ExportResult:
    """What checking an exported NDJSON file found."""

    lines: int = 0
    heads: dict = None  # organization id -> (highest seq, its hash)
    contiguous: bool = True  # no seq missing between the lowest and highest of each org
    line: int | None = None  # the first bad line, 1-based
    finding: Finding | None = None

    @property
    def ok(self):
        """Whether every line verified."""
        return self.finding is None


HASH_PATTERN = re.compile(r"[0-9a-f]{64}")


def is_hash(value):
    """Whether a value is a hash as the chain writes them: 64 lower-case hex characters."""
    return isinstance(value, str) and HASH_PATTERN.fullmatch(value) is not None


REQUIRED_LINE_FIELDS = ("id", "organization_id", "received_at", "seq", "prev_hash", "hash")


def verify_export(lines, progress: Callable[[int], None] | None = None):
    """Check the lines of an NDJSON export (bytes or str): each line's hash from its own
    content and ``prev_hash``, and the links between lines of consecutive seq."""
    result = ExportResult(heads={})
    seen = {}  # (org, seq) -> (hash, prev_hash)
    for number, line in enumerate(lines, start=1):
        if progress is not None:
            progress(len(line))
        if not line.strip():
            continue
        result.lines += 1
        finding = check_export_line(line, seen)
        if finding is not None:
            result.line, result.finding = number, finding
            return result
    by_org = {}
    for org_id, seq in seen:
        by_org.setdefault(org_id, []).append(seq)
    for org_id, seqs in by_org.items():
        top = max(seqs)
        result.heads[org_id] = (top, seen[(org_id, top)][0])
        result.contiguous = result.contiguous and top - min(seqs) + 1 == len(seqs)
    return result


def check_export_line(line, seen):
    """The problem with one exported line, given the lines before it (``None`` if none)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Finding(0, Problem.CHANGED, "The line is not JSON.")
    if not isinstance(record, dict) or any(f not in record for f in REQUIRED_LINE_FIELDS):
        return Finding(
            0,
            Problem.CHANGED,
            "The line lacks the chain fields (" + ", ".join(REQUIRED_LINE_FIELDS) + "): "
            "export in NDJSON from a server with integrity checks.",
        )
    seq, org_id = record["seq"], record["organization_id"]
    if not isinstance(seq, int) or not isinstance(org_id, str):
        return Finding(0, Problem.CHANGED, "The line's seq or organization_id is malformed.")
    stored_hash, previous = record.pop("hash"), record.pop("prev_hash")
    if not is_hash(previous) or chain_hash(previous, record) != stored_hash:
        return Finding(
            seq,
            Problem.CHANGED,
            f"Event {record['id']} (seq {seq}): its hash does not match its content.",
        )
    if (org_id, seq) in seen:
        if seen[(org_id, seq)][0] != stored_hash:
            return Finding(seq, Problem.CHANGED, f"Two different lines claim seq {seq}.")
        return None
    before, after = seen.get((org_id, seq - 1)), seen.get((org_id, seq + 1))
    if (before and before[0] != previous) or (after and after[1] != stored_hash):
        return Finding(
            seq,
            Problem.OUT_OF_ORDER,
            f"Event {record['id']} (seq {seq}) does not link to its neighbour in the chain.",
        )
    seen[(org_id, seq)] = (stored_hash, previous)
    return None
