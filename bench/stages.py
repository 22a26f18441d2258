"""``python -m bench.stages``: where a 1,000-event batch's time goes, stage by stage.

In-process on a fresh SQLite database (``--database-url`` for PostgreSQL), no HTTP: each
stage of ``POST /audit_logs/events/batch`` is timed on its own over ``--rounds`` batches
and printed in µs per event. The request side runs in request threads (and prepares the
writer's values there); the writer's stages run in one transaction, as the event writer
runs them.
"""

import argparse
import gc
import json
import os
import shutil
import time

import orjson

from bench.__main__ import seed_event
from bench.server import Installation


def per_event(seconds, rounds, size):
    return seconds / rounds / size * 1e6


def write(writer, job, stages):
    """Store the (prepared) job as the event writer does, timing each statement into
    ``stages``."""
    connection = writer.connect()
    cursor = connection.cursor()
    writer._begin(cursor)
    prepared = job.prepared
    steps = (
        ("hash chain", writer.appender.number, (cursor, prepared.events, prepared.chain)),
        ("events rows", writer.appender.insert_events.load_values, (cursor, prepared.events)),
        ("target rows", writer.appender.insert_targets.load_values, (cursor, prepared.targets)),
        ("terms", writer.appender.insert_terms.execute, (cursor, prepared.terms)),
        ("commit", connection.commit, ()),
    )
    for name, step, arguments in steps:
        started = time.perf_counter()
        step(*arguments)
        stages[name] += time.perf_counter() - started
    cursor.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()

    installation = Installation(args.database_url)
    app, org_id, _secret = installation.prepare()
    gc.freeze()  # as the server's processes do once loaded (gunicorn.conf.py)
    from app.extensions import db
    from app.ids import new_ids
    from app.ingest.writer import EventWriter, Job
    from app.ledger import append
    from app.ledger.shape import BATCH, check_shape
    from app.schemas.services import event_problems
    from app.timestamps import utcnow

    events = [seed_event(f"user_{i}") for i in range(args.batch_size)]
    data = json.dumps({"organization_id": org_id, "events": events}).encode()
    request_stages = {}
    writer_stages = dict.fromkeys(
        ("hash chain", "events rows", "target rows", "terms", "commit"), 0.0
    )

    def timed(name, function):
        started = time.perf_counter()
        result = function()
        request_stages[name] = request_stages.get(name, 0.0) + time.perf_counter() - started
        return result

    with app.app_context():
        writer = EventWriter(db.engine)
        for round_ in range(args.rounds + 2):  # two rounds to warm up
            if round_ == 2:
                request_stages.clear()
                writer_stages.update(dict.fromkeys(writer_stages, 0.0))
            body = timed("JSON parsing", lambda: orjson.loads(data))
            parsed = timed("shape check (pydantic)", lambda b=body: check_shape(BATCH, b))
            parsed = parsed[0]
            timed(
                "schema check",
                lambda b=body: [event_problems(org_id, event) for event in b["events"]],
            )

            def build(b=body, p=parsed):
                received_at = utcnow()
                ids = new_ids("evt", len(b["events"]))
                rows = [
                    append.event_row(org_id, raw, shape, received_at, event_id)
                    for raw, shape, event_id in zip(b["events"], p["events"], ids, strict=True)
                ]
                targets = [
                    target
                    for row, shape in zip(rows, p["events"], strict=True)
                    for target in append.target_rows(row, shape)
                ]
                return rows, targets

            rows, targets = timed("rows (ids, times, stored JSON)", build)
            job = timed(
                "prepared for the writer (values, chain JSON)",
                lambda r=rows, t=targets: writer.prepare(Job(org_id, r, t)),
            )
            db.session.commit()  # the schema check's read ends: the writer needs the lock
            write(writer, job, writer_stages)
        writer.stop()
        db.engine.dispose()

    database = "PostgreSQL" if "postgres" in installation.database_url else "SQLite"
    print(f"{database}, {args.rounds} batches of {args.batch_size} events; µs per event")
    for title, stages in (("request thread", request_stages), ("event writer", writer_stages)):
        total = per_event(sum(stages.values()), args.rounds, args.batch_size)
        print(f"\n{title}: {total:.1f}")
        for name, seconds in stages.items():
            print(f"  {name:44} {per_event(seconds, args.rounds, args.batch_size):6.1f}")
    shutil.rmtree(installation.directory, ignore_errors=True)


if __name__ == "__main__":
    main()
