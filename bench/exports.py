"""``make bench-exports``: how fast an export writes 1,000,000 events, against a baseline.

The data is the event viewer benchmark's (bench/viewer.py: 1,000,000 demo events in each
of two organizations). On SQLite the benchmark works on its own copy of that database,
``instance/bench/exports.db`` (made once, then reused), so that migrating it leaves the
viewer's untouched; ``--database-url`` points it at PostgreSQL instead.

For one organization (all its events, newest first) it measures, in the same run:

- the baseline: a raw loop on a bare DBAPI cursor, ``SELECT`` the same rows in the same
  order and hand each tuple to ``csv.writer`` (no formatting, no JSON);
- the export: the real job (``app.exports.services.run_next_export``: count, stream the
  rows in pages through the cursor, build every CSV cell, write, fsync, rename);
- the same export as NDJSON.

After a warm-up pass it runs baseline and CSV export ``--rounds`` times, alternating, and
keeps the best of each. It prints rows per second, the ratio export/baseline (target: at
least 0.6) and the peak growth of the process's resident memory while each ran (target:
under 100 MB), sampled every 10 ms. Nothing here asserts a figure.
"""

import argparse
import csv
import json
import os
import shutil
import threading
import time

from bench.viewer import ORG_NAMES, ROOT, prepare

RESULTS = ROOT / "bench" / "results"
BENCH_DIR = ROOT / "instance" / "bench"


def make_app(database_url, copy_name="exports.db", **settings):
    """The app on the benchmark database (SQLite: ``copy_name``, a copy of the viewer's),
    migrated; ``settings`` are added to its configuration."""
    from flask_migrate import upgrade

    from app import create_app
    from app.config import database_uri

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if database_url:
        uri = database_uri(database_url, BENCH_DIR)
    else:
        copy = BENCH_DIR / copy_name
        viewer = BENCH_DIR / "viewer.db"
        if not copy.exists() and viewer.exists():
            print(f"Copying {viewer.relative_to(ROOT)} to {copy.relative_to(ROOT)}", flush=True)
            shutil.copyfile(viewer, copy)
        uri = f"sqlite:///{copy}"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": uri,
            "SECRET_KEY": "benchmark-only",
            "EXPORT_WORKER": "off",
            "EXPORTS_DIR": str(BENCH_DIR / "exports"),
            **settings,
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def resident_bytes():
    """This process's resident memory (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Samples resident memory in a thread; ``growth`` is the peak minus the start."""

    def __enter__(self):
        self.start = self.peak = resident_bytes()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def sample(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, resident_bytes())

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, resident_bytes())
        self.growth = self.peak - self.start


def baseline(app, org_id, path):
    """The raw loop: the same rows, SELECTed on a bare cursor and written by csv.writer."""
    from app.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            columns = (
                "id, occurred_at, received_at, action, version, actor_type, actor_id, "
                "actor_name, location, user_agent, payload"
            )
            mark = "%s" if db.engine.dialect.name == "postgresql" else "?"
            with PeakMemory() as memory, open(path, "w", encoding="utf-8", newline="") as out:
                started = time.perf_counter()
                cursor.execute(
                    f"SELECT {columns} FROM events WHERE organization_id = {mark} "  # noqa: S608
                    "ORDER BY occurred_at DESC, id DESC",
                    (org_id,),
                )
                writer = csv.writer(out)
                rows = 0
                while True:
                    batch = cursor.fetchmany(2000)
                    if not batch:
                        break
                    writer.writerows(batch)
                    rows += len(batch)
                elapsed = time.perf_counter() - started
            cursor.close()
        finally:
            raw.close()
    return {"rows": rows, "seconds": elapsed, "memory_growth": memory.growth}


def export(app, org_id, format):
    """The real export job, start to finish."""
    from app.events.filters import EventFilter
    from app.exports import services
    from app.extensions import db
    from app.orgs.services import get_organization

    with app.app_context():
        created = services.create_export(
            get_organization(org_id), EventFilter(), format, actor=None
        )
        db.session.commit()
        with PeakMemory() as memory:
            started = time.perf_counter()
            done = services.run_next_export("bench")
            elapsed = time.perf_counter() - started
        assert done.id == created.id and done.state == "ready", (done.state, done.error)
        size = done.size_bytes
        (services.exports_dir() / done.file_name).unlink()
        return {
            "rows": done.rows_written,
            "seconds": elapsed,
            "memory_growth": memory.growth,
            "bytes": size,
        }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events per organization")
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (default: a SQLite copy in instance/bench/)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="baseline/export pairs to run")
    args = parser.parse_args()

    app = make_app(args.database_url)
    database = "PostgreSQL" if args.database_url else "SQLite"
    (org_a, _org_b), _user = prepare(app, args.events)
    with app.app_context():
        from sqlalchemy import delete

        from app.exports.models import Export
        from app.extensions import db

        db.session.execute(delete(Export))  # earlier runs' jobs
        db.session.commit()
    print(
        f"\nExports on {database}: one organization's {args.events:,} events "
        f"({ORG_NAMES[0]}), newest first\n"
    )
    scratch = BENCH_DIR / "baseline.csv"
    baseline(app, org_a, scratch)  # warm-up: both then read from a warm page cache
    runs = {"baseline": [], "csv export": []}
    for _round in range(args.rounds):
        runs["baseline"].append(baseline(app, org_a, scratch))
        runs["csv export"].append(export(app, org_a, "csv"))
    scratch.unlink()
    # The best round of each: the baseline's best makes the ratio the strictest.
    measured = {name: min(found, key=lambda f: f["seconds"]) for name, found in runs.items()}
    measured["ndjson export"] = export(app, org_a, "ndjson")
    base_rate = measured["baseline"]["rows"] / measured["baseline"]["seconds"]
    print(f"{'':<16} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'ratio':>6} {'memory':>9}")
    for name, figures in measured.items():
        rate = figures["rows"] / figures["seconds"]
        figures["rows_per_second"] = round(rate)
        figures["ratio"] = round(rate / base_rate, 2)
        print(
            f"{name:<16} {figures['rows']:>10,} {figures['seconds']:>8.2f} {rate:>10,.0f} "
            f"{figures['ratio']:>5.2f}x {figures['memory_growth'] / 2**20:>6.1f} MB"
        )
    print(
        "\nTargets: the CSV export at least 0.6x the baseline's rows/s; memory growth under 100 MB."
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"exports-{database.lower()}.json"
    out.write_text(json.dumps({"database": database, "results": measured}, indent=2))
    print(f"Written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
