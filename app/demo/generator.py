"""Realistic audit events: a few hundred people and services doing a dozen kinds of things
to documents, teams, invoices and API keys over the last 90 days, valid against the schemas
``configure_actions`` creates. Deterministic for a given seed.
"""

import random
from datetime import timedelta

from app import database
from app.extensions import db
from app.ledger.append import MAX_EVENTS_PER_TRANSACTION, accepted_rows, append_rows
from app.ledger.shape import parse_event
from app.schemas.services import create_schema
from app.timestamps import isoformat, utcnow

CHUNK = MAX_EVENTS_PER_TRANSACTION  # events per transaction

# action -> (target types, relative frequency)
ACTIONS = {
    "user.signed_in": (("team",), 30),
    "user.signed_out": (("team",), 12),
    "user.password_changed": (("user",), 2),
    "document.viewed": (("document",), 25),
    "document.created": (("document", "team"), 6),
    "document.updated": (("document",), 10),
    "document.deleted": (("document",), 2),
    "document.shared": (("document", "user"), 4),
    "team.member_added": (("team", "user"), 2),
    "team.member_removed": (("team", "user"), 1),
    "invoice.paid": (("invoice",), 3),
    "api_key.created": (("api_key",), 1),
    "api_key.revoked": (("api_key",), 0.5),
}
FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Katherine",
    "Edsger",
    "Hedy",
    "Donald",
    "Sophie",
    "Guido",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "McCarthy",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "Dijkstra",
]
DOCUMENTS = [
    "Q3 budget",
    "Roadmap 2025",
    "Security policy",
    "Onboarding guide",
    "Pricing",
    "Incident report",
    "Board deck",
    "Hiring plan",
    "SOC 2 evidence",
    "Launch plan",
]
TEAMS = ["Engineering", "Sales", "Finance", "Support", "Marketing", "Legal", "Security", "Ops"]
AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "acme-sync/2.3.1 (+https://example.com/bot)",
]


def configure_actions(org, created_by="demo"):
    """Create (or keep) a schema for every demo action."""
    for action, (types, _weight) in ACTIONS.items():
        create_schema(
            org,
            action,
            {"targets": [{"type": t} for t in types]},
            actor=None,
            created_by=created_by,
        )


class World:
    """The people, services and things the events are about."""

    def __init__(self, rng, actors=300):
        self.rng = rng
        self.actors = [
            {
                "type": "user",
                "id": f"user_{i:04d}",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            }
            for i in range(actors)
        ] + [{"type": "service", "id": f"svc_{name}"} for name in ("backup", "billing", "sync")]
        self.things = {
            "document": [
                (f"doc_{i:05d}", f"{rng.choice(DOCUMENTS)} v{i % 7 + 1}") for i in range(2000)
            ],
            "team": [(f"team_{i:02d}", name) for i, name in enumerate(TEAMS)],
            "user": [(a["id"], a.get("name")) for a in self.actors[:actors]],
            "invoice": [(f"inv_{i:06d}", f"Invoice #{i:06d}") for i in range(5000)],
            "api_key": [(f"key_{i:03d}", f"Key {i}") for i in range(60)],
        }
        self.locations = [f"203.0.113.{i}" for i in range(1, 255)] + [
            f"198.51.100.{i}" for i in range(1, 60)
        ]
        self.actions = list(ACTIONS)
        self.weights = [weight for _types, weight in ACTIONS.values()]

    def event(self, occurred_at):
        """One event at ``occurred_at``."""
        rng = self.rng
        action = rng.choices(self.actions, self.weights)[0]
        actor = rng.choice(self.actors) if rng.random() < 0.97 else rng.choice(self.actors[-3:])
        targets = []
        for kind in ACTIONS[action][0]:
            target_id, name = rng.choice(self.things[kind])
            targets.append({"type": kind, "id": target_id, **({"name": name} if name else {})})
        event = {
            "action": action,
            "occurred_at": isoformat(occurred_at),
            "actor": dict(actor),
            "targets": targets,
            "context": {"location": rng.choice(self.locations), "user_agent": rng.choice(AGENTS)},
        }
        if action == "invoice.paid":
            event["metadata"] = {"amount": rng.randrange(900, 250_000), "currency": "USD"}
        elif action.startswith("document."):
            event["metadata"] = {"source": rng.choice(["web", "api", "mobile"])}
        return event


def generate(count, seed=1, days=90, now=None):
    """``count`` events spread over the last ``days`` days (busier on weekdays), oldest first."""
    rng = random.Random(seed)
    world = World(rng)
    end = now or utcnow()
    span = timedelta(days=days).total_seconds()
    offsets = sorted(rng.random() for _ in range(count))
    for fraction in offsets:
        moment = end - timedelta(seconds=span * (1 - fraction))
        if moment.weekday() >= 5 and rng.random() < 0.6:
            moment -= timedelta(days=2)  # weekends are quieter
        yield world.event(moment)


def seed_events(org_id, count, seed=1, days=90, progress=None):
    """Store ``count`` demo events for the organization, one transaction per chunk."""
    chunk = []
    for raw in generate(count, seed=seed, days=days):
        chunk.append((raw, parse_event(raw)))
        if len(chunk) == CHUNK:
            _store(org_id, chunk, progress)
            chunk = []
    if chunk:
        _store(org_id, chunk, progress)


def _store(org_id, chunk, progress):
    with database.writes():
        rows, targets = accepted_rows(org_id, chunk, utcnow())
        append_rows(db.session.connection(), rows, targets)
    if progress is not None:
        progress(len(chunk))


def refresh_statistics():
    """Let the query planners see the new data (SQLite ANALYZE, PostgreSQL ANALYZE)."""
    with database.write_connection() as connection:
        connection.exec_driver_sql("ANALYZE")
