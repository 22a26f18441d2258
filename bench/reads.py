"""The read API at 1,000,000 events: ``GET /audit_logs/events`` page times for each filter
alone and combined and a later page (through the whole Flask stack in-process, with an
API key, the read's own audit event included), then a pass over every event of the other
organization, 100 a page, while another thread adds events to it: no event may repeat or
be missing. Run by ``make bench-viewer`` after the viewer's figures (``--reads-only``:
these alone). Nothing asserts a time.
"""

import itertools
import statistics
import threading
import time
from datetime import timedelta
from urllib.parse import urlencode

from bench.viewer import p95

LIMIT = 50  # the viewer's page size, for comparable figures


def api_key(app, org_id):
    from app.extensions import db
    from app.keys import services as keys
    from app.orgs import services as orgs

    with app.app_context():
        _key, secret = keys.create_key(orgs.get_organization(org_id), "bench reads", actor=None)
        db.session.commit()
        return secret


def scenarios(app, org_id):
    """(label, params) with values taken from the data, as the viewer's cases."""
    from sqlalchemy import select

    from app.extensions import db
    from app.ledger.models import Event
    from app.timestamps import isoformat, utcnow

    with app.app_context():
        actor = db.session.scalar(
            select(Event.actor_id)
            .where(Event.organization_id == org_id, Event.actor_id.like("user_%"))
            .limit(1)
        )
        name = db.session.scalar(
            select(Event.actor_name)
            .where(Event.organization_id == org_id, Event.actor_name.is_not(None))
            .limit(1)
        )
    now = utcnow()
    day, week = isoformat(now - timedelta(days=1)), isoformat(now - timedelta(days=7))
    month, month_and_week = (isoformat(now - timedelta(days=d)) for d in (30, 37))
    return [
        ("first page", {}),
        ("range: last 24 hours", {"range_start": day}),
        ("range: last 7 days", {"range_start": week}),
        ("range: a closed 7 days", {"range_start": week, "range_end": day}),
        # Without event_hours' bounds the walk passed a month of newer events first.
        ("range: a closed 7 days a month ago", {"range_start": month_and_week, "range_end": month}),
        ("range: everything before a month ago", {"range_end": month}),
        # A poll's first request: without the bounds, a walk up from the chain's start.
        ("ascending: last 7 days", {"range_start": week, "order": "asc"}),
        ("actions: common (user.signed_in)", {"actions": ["user.signed_in"]}),
        ("actions: rare (api_key.revoked)", {"actions": ["api_key.revoked"]}),
        (
            "actions: three",
            {"actions": ["document.deleted", "invoice.paid", "team.member_removed"]},
        ),
        (f"actor_ids: one ({actor})", {"actor_ids": [actor]}),
        (f"actor_names: one ({name})", {"actor_names": [name]}),
        ("targets: invoice", {"targets": ["invoice"]}),
        ("targets: api_key (rare)", {"targets": ["api_key"]}),
        ("q: common (signed)", {"q": "signed"}),
        ("q: a target name (Incident report)", {"q": "Incident report"}),
        ("q: rare (Invoice #000123)", {"q": "Invoice #000123"}),
        ("q: no match (zzzzz)", {"q": "zzzzz"}),
        ("actions + actor_names", {"actions": ["document.viewed"], "actor_names": [name]}),
        ("7 days + targets + q", {"range_start": week, "targets": ["document"], "q": "budget"}),
        ("rare action + actor_ids", {"actions": ["api_key.revoked"], "actor_ids": [actor]}),
        (
            "everything",
            {
                "range_start": week,
                "actions": ["document.viewed", "document.updated"],
                "actor_names": [name],
                "targets": ["document"],
                "q": "plan",
            },
        ),
    ]


def later_page(client, headers):
    """The 20th page of the unfiltered list, through its cursor."""
    params = {"limit": LIMIT}
    for _ in range(19):
        body = client.get(f"/audit_logs/events?{urlencode(params)}", headers=headers).get_json()
        params["after"] = body["list_metadata"]["after"]
    return params


def measure(app, org_id, runs):
    """p50/p95 server time (ms) per case; returns the rows."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_key(app, org_id)}"}
    cases = [(label, {"limit": LIMIT, **params}) for label, params in scenarios(app, org_id)]
    cases.append(("page 20 (cursor)", later_page(client, headers)))
    print(f"\nRead API (GET /audit_logs/events, limit {LIMIT}), {runs} requests per case\n")
    print(f"{'case':<44} {'rows':>4} {'srv p50':>8} {'srv p95':>8}")
    results = []
    for label, params in cases:
        url = f"/audit_logs/events?{urlencode(params, doseq=True)}"
        for _ in range(3):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.get_json())
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
        rows = len(response.get_json()["data"])
        row = {
            "case": f"api {label}",
            "rows": rows,
            "server_p50": statistics.median(times),
            "server_p95": p95(times),
        }
        flag = "ok" if row["server_p95"] <= 100 else "SLOW"
        figures = f"{row['server_p50']:>8.1f} {row['server_p95']:>8.1f}"
        print(f"{label[:44]:<44} {rows:>4} {figures}  {flag}", flush=True)
        results.append(row)
    return results


def full_pass(app, org_id):
    """Every event of the organization, 100 a page, newest first, while a thread adds
    events: each seq that existed at the start seen exactly once, in order."""
    from sqlalchemy import select

    from app.extensions import db
    from app.ingest.services import store_events
    from app.ledger.models import Event
    from app.ledger.shape import parse_event
    from app.timestamps import isoformat, utcnow

    with app.app_context():
        there = db.session.scalars(
            select(Event.seq).where(Event.organization_id == org_id).order_by(Event.seq.desc())
        ).all()
    head, count = there[0], len(there)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_key(app, org_id)}"}
    stop, added = threading.Event(), [0]

    def add_events():
        raw = {
            "action": "user.signed_in",
            "occurred_at": isoformat(utcnow()),
            "actor": {"type": "user", "id": "user_bench_pass"},
            "targets": [{"type": "team", "id": "team_bench"}],
            "context": {"location": "203.0.113.9"},
        }
        with app.app_context():
            while not stop.is_set():
                store_events(org_id, [(raw, parse_event(raw))] * 10)
                added[0] += 10
                time.sleep(0.05)

    adder = threading.Thread(target=add_events, daemon=True)
    adder.start()
    seqs, params, requests, started = [], {"limit": 100}, 0, time.monotonic()
    try:
        while True:
            body = client.get(f"/audit_logs/events?{urlencode(params)}", headers=headers).get_json()
            requests += 1
            seqs.extend(record["seq"] for record in body["data"])
            if body["list_metadata"]["after"] is None:
                break
            params["after"] = body["list_metadata"]["after"]
    finally:
        stop.set()
        adder.join()
    elapsed = time.monotonic() - started
    old = [seq for seq in seqs if seq <= head]
    ordered = all(a > b for a, b in itertools.pairwise(seqs))
    complete = old == there
    print(
        f"\nFull pass: {len(seqs):,} events in {requests:,} requests, {elapsed:.0f} s "
        f"({len(seqs) / elapsed:,.0f} events/s), {added[0]:,} events added meanwhile: "
        f"{'no repeat' if len(set(seqs)) == len(seqs) and ordered else 'REPEATS'}, "
        f"{'no gap' if complete else 'GAPS'} ({len(old):,} of the {count:,} there at the start)",
        flush=True,
    )
    return {
        "case": "full pass while adding",
        "events": len(seqs),
        "requests": requests,
        "seconds": elapsed,
        "added": added[0],
        "no_repeat": len(set(seqs)) == len(seqs) and ordered,
        "no_gap": complete,
    }
