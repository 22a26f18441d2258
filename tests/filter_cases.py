"""Filter cases shared by the event viewer's tests and the exports' tests: one matrix of
filters and the events each must select, so a filter can never mean two things."""

from datetime import timedelta

from app.timestamps import isoformat, utcnow
from tests.conftest import seed_event

# The moment WORLD happens before: set afresh for each test (tests/conftest.py), so that
# "in the last hour" means the same however long the suite has run.
NOW = utcnow().replace(microsecond=0)


def event(minutes_ago=0, action="user.signed_in", actor="user_1", name=None, targets=None, **more):
    """An event that happened ``minutes_ago``, with the given action, actor and targets."""
    raw = seed_event(
        action=action,
        occurred_at=isoformat(NOW - timedelta(minutes=minutes_ago)),
        actor={"type": "user", "id": actor, **({"name": name} if name else {})},
        targets=targets if targets is not None else [{"type": "team", "id": "team_1"}],
    )
    raw.update(more)
    return raw


def world():
    """A small world: every filter has something to find and something to leave out."""
    return [
        event(
            5,
            "user.signed_in",
            "user_alice",
            "Alice Smith",
            [{"type": "team", "id": "team_red", "name": "Red Team"}],
        ),
        event(
            50,
            "user.signed_out",
            "user_alice",
            "Alice Smith",
            [{"type": "team", "id": "team_blue", "name": "Blue"}],
        ),
        event(
            60 * 5,
            "document.deleted",
            "user_bob",
            "Bob",
            [{"type": "document", "id": "doc_9", "name": "Q3 Budget"}],
        ),
        event(
            60 * 30,
            "document.viewed",
            "svc_backup",
            None,
            [{"type": "document", "id": "doc_9"}, {"type": "team", "id": "team_red"}],
        ),
        event(
            60 * 24 * 3,
            "invoice.paid",
            "user_carol",
            "Carol",
            [{"type": "invoice", "id": "inv_1", "name": "Invoice 1"}],
        ),
        event(
            60 * 24 * 20, "user.signed_in", "user_bob", "Bob", [{"type": "team", "id": "team_blue"}]
        ),
        event(60 * 24 * 60, "document.viewed", "user_alice", "Alice Smith", []),
    ]


WORLD = world()


def refresh():
    """Move NOW to this moment and WORLD with it (the same list, so imports of it hold)."""
    global NOW
    NOW = utcnow().replace(microsecond=0)
    WORLD[:] = world()


# (query string, indexes into WORLD of the events it selects, newest first)
FILTER_CASES = [
    ("", [0, 1, 2, 3, 4, 5, 6]),
    ("?range=1h", [0, 1]),
    ("?range=24h", [0, 1, 2]),
    ("?range=7d", [0, 1, 2, 3, 4]),
    ("?range=30d", [0, 1, 2, 3, 4, 5]),
    ("?action=user.signed_in", [0, 5]),
    ("?action=user.signed_in&action=document.viewed", [0, 3, 5, 6]),
    ("?actor=user_a", [0, 1, 6]),
    ("?actor=Bo", [2, 5]),
    ("?actor=bob", []),  # prefixes are case-sensitive
    ("?actor=svc_", [3]),
    ("?target_type=document", [2, 3]),
    ("?target_id=team_red", [0, 3]),
    ("?target_type=team&target_id=team_blue", [1, 5]),
    ("?target_type=document&target_id=team_red", []),
    ("?q=budget", [2]),  # a target name, any case
    ("?q=signed", [0, 1, 5]),  # the action
    ("?q=alice", [0, 1, 6]),  # the actor name
    ("?q=team", [0]),  # "Red Team": names only, not ids or types
    ("?q=100%", []),  # wildcards are plain characters
    ("?q=deleted+Bob", []),  # one match never spans two fields (action, actor name)
    ("?action=user.signed_in&actor=user_alice", [0]),
    ("?range=7d&target_type=team&q=alice", [0, 1]),
    ("?range=30d&action=document.viewed&action=user.signed_in&target_id=team_red", [0, 3]),
    ("?actor=user_&action=document.viewed", [6]),
    # The export API's exact-match lists (OR within a list, AND across filters).
    ("?actor_id=user_alice&actor_id=svc_backup", [0, 1, 3, 6]),
    ("?actor_name=Bob", [2, 5]),
    ("?actor_name=Bo", []),  # exact, not a prefix
    ("?target_types=invoice&target_types=document", [2, 3, 4]),
    ("?target_types=team&actor_id=user_bob", [5]),
    ("?actor_name=Alice+Smith&action=user.signed_out", [1]),
    ("?target_types=team&target_type=document", [3]),  # one target of each
    ("?range=24h&target_types=team&actor_name=Alice+Smith&actor_name=Bob", [0, 1]),
]
