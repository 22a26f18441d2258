"""``make bench-streams``: how fast log streams deliver, against a raw read of the same
data, and how far behind they stay under a steady ingest.

The data is the event viewer benchmark's (bench/viewer.py: 1,000,000 demo events in each
of two organizations), on the benchmark's own SQLite copy ``instance/bench/streams.db``
(made once, then reused; ``--database-url`` for PostgreSQL). In one run it measures:

- the baseline: a raw loop on a bare DBAPI cursor reading one organization's events in
  ``seq`` order (id, seq, hash, payload), the floor any delivery stands on;
- the backlog to a webhook: a stream created "from the beginning" over the 1M events,
  drained by the real rounds (``app.streams.delivery.run_next``) to a receiver in another
  process that verifies every signature (bench/stream_receiver.py), plain HTTP on
  loopback;
- the backlog to S3: the same to moto's S3 server (another process), one gzip NDJSON
  object per batch;
- steady lag: a third organization takes 500 events/s through the event writer for
  ``--steady-seconds`` while the job runner's streams queue (polling every
  ``STREAM_POLL_SECONDS``, 1 s) delivers to the webhook receiver; the lag of each event is
  its arrival at the receiver minus its ``received_at``.

Every delivery is checked afterwards: the receiver holds every event once, in seq order.
It prints events/s, the ratio to the baseline, and the lag's p50, p95 and maximum.
Targets (issue 17): the 1M backlog drains in under 2 minutes; steady lag under 5 s.
Nothing here asserts a figure.
"""

import argparse
import gzip
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import exports
from bench.viewer import ORG_NAMES, ROOT, prepare

RESULTS = ROOT / "bench" / "results"
STEADY_ORG = "Streams steady-state"


def make_app(database_url):
    """The app on its own copy of the viewer's data (``streams.db``), rounds run here."""
    return exports.make_app(database_url, "streams.db", RETENTION_PURGE="off", STREAM_WORKER="off")


def baseline(app, org_id):
    """The raw loop: the organization's events in seq order on a bare cursor."""
    from app.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            mark = "%s" if db.engine.dialect.name == "postgresql" else "?"
            started = time.perf_counter()
            cursor.execute(
                f"SELECT id, seq, hash, payload FROM events WHERE organization_id = {mark} "  # noqa: S608
                "ORDER BY seq",
                (org_id,),
            )
            rows = 0
            while batch := cursor.fetchmany(1000):
                rows += len(batch)
            elapsed = time.perf_counter() - started
            cursor.close()
        finally:
            raw.close()
    return {"events": rows, "seconds": elapsed}


def clear_streams(app):
    from sqlalchemy import delete

    from app import database
    from app.extensions import db
    from app.streams.models import LogStream

    with app.app_context(), database.writes():
        db.session.execute(delete(LogStream))


def create_stream(app, org_id, kind, settings, secret=None, start="beginning"):
    from app import database
    from app.extensions import db
    from app.orgs.models import Organization
    from app.streams import services

    with app.app_context(), database.writes():
        org = db.session.get(Organization, org_id)
        stream, shown = services.create_stream(
            org, kind, f"bench {kind}", settings, secret=secret, start=start, actor=None
        )
        return stream.id, shown


def head_seq(app, org_id):
    from app import database
    from app.streams import records

    with app.app_context(), database.reads():
        return records.head_of(org_id)[0]


def drain(app):
    """Run rounds until no stream has work; the seconds it took."""
    from app.extensions import db
    from app.streams import delivery

    started = time.perf_counter()
    with app.app_context():
        while delivery.run_next("bench") is not None:
            db.session.remove()
    return time.perf_counter() - started


def stream_state(app, stream_id):
    from app import database
    from app.extensions import db
    from app.streams.models import LogStream

    with app.app_context(), database.reads():
        row = db.session.get(LogStream, stream_id)
        return row.state, row.cursor_seq, row.last_error


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Receiver:
    """bench/stream_receiver.py in its own process."""

    def __init__(self, secret):
        self.directory = Path(tempfile.mkdtemp(prefix="bench-receiver-"))
        port_file = self.directory / "port"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.stream_receiver", secret, str(port_file)], cwd=ROOT
        )
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text()}/hook"
        self.client = httpx.Client()

    def stats(self):
        return self.client.get(self.url).json()

    def reset(self):
        self.client.post(self.url.replace("/hook", "/reset"))

    def close(self):
        self.client.close()
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


class MotoServer:
    """moto's S3 server in its own process."""

    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                httpx.get(self.url + "/moto-api/")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        import boto3

        self.client = boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        self.client.create_bucket(Bucket="bench")

    def records(self):
        """Every record stored, object by object in key order (the seq order)."""
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket="bench")
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        for key in keys:
            body = self.client.get_object(Bucket="bench", Key=key)["Body"].read()
            found.extend(json.loads(line) for line in gzip.decompress(body).splitlines())
        return keys, found

    def close(self):
        self.client.close()
        self.process.terminate()
        self.process.wait()


def webhook_backlog(app, org_id, expected):
    stream_id, secret = create_stream(app, org_id, "webhook", {"url": "http://placeholder/"})
    receiver = Receiver(secret)
    try:
        from app import database
        from app.extensions import db
        from app.streams import services
        from app.streams.models import LogStream

        with app.app_context(), database.writes():
            row = db.session.get(LogStream, stream_id)
            services.update_stream(row, row.name, {"url": receiver.url}, actor=None)
        seconds = drain(app)
        stats = receiver.stats()
    finally:
        receiver.close()
    state, cursor, error = stream_state(app, stream_id)
    ok = (
        stats["unique"] == expected
        and stats["in_order"]
        and not stats["refused"]
        and cursor == head_seq(app, org_id)
    )
    return {
        "events": stats["unique"],
        "seconds": seconds,
        "batches": stats["batches"],
        "state": state,
        "error": error,
        "check": "OK" if ok else f"FAILED ({stats})",
    }


def s3_backlog(app, org_id, expected):
    store = MotoServer()
    try:
        settings = {"bucket": "bench", "endpoint_url": store.url, "access_key_id": "bench"}
        stream_id, _shown = create_stream(app, org_id, "s3", settings, secret="bench")
        seconds = drain(app)
        keys, records = store.records()
    finally:
        store.close()
    state, _cursor, error = stream_state(app, stream_id)
    seqs = [record["seq"] for record in records]
    unique = len({record["id"] for record in records})
    ok = unique == expected and seqs == sorted(seqs)
    return {
        "events": unique,
        "seconds": seconds,
        "batches": len(keys),
        "state": state,
        "error": error,
        "check": "OK"
        if ok
        else f"FAILED ({unique} of {expected}, in order: {seqs == sorted(seqs)})",
    }


def steady(app, rate, seconds):
    """A steady ingest of ``rate`` events/s into a fresh organization, streamed by the job
    runner's own queue; the lag of each event at the receiver."""
    from sqlalchemy import select

    from app import database
    from app.extensions import db
    from app.ingest.services import store_events
    from app.jobs.runner import Runner
    from app.ledger.shape import parse_event
    from app.orgs import services as orgs
    from app.orgs.models import Organization
    from app.streams.delivery import StreamQueue

    with app.app_context(), database.writes():
        org = db.session.scalar(select(Organization).where(Organization.name == STEADY_ORG))
        org = org or orgs.create_organization(STEADY_ORG, actor=None)
        org_id = org.id
    stream_id, secret = create_stream(
        app, org_id, "webhook", {"url": "http://placeholder/"}, start="now"
    )
    receiver = Receiver(secret)
    runner = None
    try:
        from app.streams import services
        from app.streams.models import LogStream

        with app.app_context(), database.writes():
            row = db.session.get(LogStream, stream_id)
            services.update_stream(row, row.name, {"url": receiver.url}, actor=None)
        start_seq = head_seq(app, org_id)
        queue = StreamQueue(poll_seconds=app.config["STREAM_POLL_SECONDS"])
        runner = Runner(app, [queue]).start()
        per_tick = max(1, rate // 10)  # events stored every 0.1 s
        raw = {
            "action": "user.signed_in",
            "occurred_at": "2026-12-03T12:00:00.000Z",
            "actor": {"type": "user", "id": "user_bench"},
            "targets": [{"type": "team", "id": "team_bench"}],
            "context": {"location": "127.0.0.1"},
        }
        sent, started = 0, time.monotonic()
        with app.app_context():
            while time.monotonic() - started < seconds:
                store_events(org_id, [(raw, parse_event(raw))] * per_tick)
                sent += per_tick
                pause = started + (sent / rate) - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            achieved = sent / (time.monotonic() - started)
        expected = head_seq(app, org_id) - start_seq
        for _ in range(300):  # until the last events arrive
            if receiver.stats()["unique"] >= expected:
                break
            time.sleep(0.1)
        stats = receiver.stats()
    finally:
        if runner is not None:
            runner.stop()
        receiver.close()
    ok = stats["unique"] == expected and stats["in_order"]
    return {
        "events": stats["unique"],
        "rate": round(achieved),
        "lag_p50": stats["lag_p50"],
        "lag_p95": stats["lag_p95"],
        "lag_max": stats["lag_max"],
        "check": "OK" if ok else f"FAILED ({stats['unique']} of {expected})",
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events per organization")
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (default: a SQLite copy in instance/bench/)"
    )
    parser.add_argument("--rate", type=int, default=500, help="steady ingest, events/s")
    parser.add_argument("--steady-seconds", type=float, default=30.0)
    args = parser.parse_args()

    app = make_app(args.database_url)
    database = "PostgreSQL" if args.database_url else "SQLite"
    (org_a, org_b), _user = prepare(app, args.events)
    clear_streams(app)
    print(f"\nLog streams on {database}: one organization's backlog ({ORG_NAMES[0]})\n")
    baseline(app, org_a)  # warm-up: everything then reads from a warm page cache
    measured = {"baseline (raw read)": baseline(app, org_a)}
    expected = head_seq(app, org_a)
    print("Draining the backlog to the webhook receiver...", flush=True)
    measured["webhook backlog"] = webhook_backlog(app, org_a, expected)
    print("Draining the backlog to S3 (moto)...", flush=True)
    measured["s3 backlog"] = s3_backlog(app, org_b, head_seq(app, org_b))
    base = measured["baseline (raw read)"]
    base_rate = base["events"] / base["seconds"]
    print(f"\n{'':<20} {'events':>10} {'seconds':>8} {'events/s':>10} {'ratio':>6}  check")
    for name, figures in measured.items():
        rate = figures["events"] / figures["seconds"]
        figures["events_per_second"] = round(rate)
        figures["ratio"] = round(rate / base_rate, 3)
        print(
            f"{name:<20} {figures['events']:>10,} {figures['seconds']:>8.1f} {rate:>10,.0f} "
            f"{figures['ratio']:>5.2f}x  {figures.get('check', '')}"
        )
    print(f"\nSteady ingest of {args.rate} events/s for {args.steady_seconds:.0f} s...", flush=True)
    clear_streams(app)
    lag = measured["steady lag"] = steady(app, args.rate, args.steady_seconds)
    print(
        f"steady lag at {lag['rate']} events/s: p50 {lag['lag_p50']:.2f} s, "
        f"p95 {lag['lag_p95']:.2f} s, max {lag['lag_max']:.2f} s "
        f"({lag['events']:,} events)  {lag['check']}"
    )
    print("\nTargets: the 1M backlog drains in under 2 minutes; steady lag under 5 s.")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"streams-{database.lower()}.json"
    out.write_text(json.dumps({"database": database, "results": measured}, indent=2))
    print(f"Written to {out.relative_to(ROOT)}")
    clear_streams(app)


if __name__ == "__main__":
    main()
