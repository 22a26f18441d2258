"""``make bench``: ingestion throughput of the production server on this machine.

For each figure, a baseline measured in the same run on the same server:
- single events (POST /audit_logs/events, an Idempotency-Key each, as the SDKs send them)
  against a trivial endpoint (GET /healthz) — target: >= 1,000 events/s and >= 0.5x;
- the batch endpoint (1,000 events a request) — target: >= 30,000 events/s, shown
  against the single-event rate.

Load comes from wrk (Debian's ``wrk``) with Lua scripts, on loopback. The figures are
printed and written to bench/results/ingest.json; nothing here asserts a time.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from bench.cpu import CpuMeter
from bench.server import Installation, Server

HERE = Path(__file__).resolve().parent


def wrk(url, duration, connections, script=None, env=None, threads=2):
    """Run wrk; returns (requests per second, requests, non-2xx responses, socket errors)."""
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)  # the latency distribution
    return {
        "rps": rate,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "p99": p99.group(1) if p99 else "?",
    }


def measured(server, units_per_request, *arguments):
    """``wrk(*arguments)`` against the server, with ``cpu``: where the CPU went per unit
    (request or event; ``bench.cpu``)."""
    with CpuMeter(server.process.pid) as meter:
        result = wrk(*arguments)
    result["cpu"] = meter.per_unit(result["requests"] * units_per_request)
    return result


def seed_event(actor_id="ACTOR_ID"):
    """The seed document's event."""
    return {
        "action": "user.signed_in",
        "occurred_at": "2022-08-29T19:47:52.336Z",
        "actor": {"type": "user", "id": actor_id, "name": "Bench User"},
        "targets": [{"type": "team", "id": "team_01GBNJD4MKHVKJGEWK42JNMBGS"}],
        "context": {"location": "123.123.123.123", "user_agent": "Chrome/104.0.0.0"},
        "metadata": {"plan": "pro", "seats": 5},
    }


def count_events(app, org_id):
    """This run's organization's events, read straight from the database (a PostgreSQL
    database may hold earlier runs')."""
    from app.extensions import db
    from app.ledger.models import Event

    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(Event).where(Event.organization_id == org_id)
        )
        db.engine.dispose()
        return count


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    installation = Installation(args.database_url)
    app, org_id, secret = installation.prepare()
    single_file = installation.directory / "single.json"
    single_file.write_text(json.dumps({"organization_id": org_id, "event": seed_event()}))
    batch_file = installation.directory / "batch.json"
    events = [seed_event(f"user_{i}") for i in range(args.batch_size)]
    batch_file.write_text(json.dumps({"organization_id": org_id, "events": events}))

    database = "PostgreSQL" if "postgres" in installation.database_url else "SQLite"
    print(
        f"Server: gunicorn, {args.workers} workers x {args.threads} threads; database: {database}"
    )
    print(
        f"Load: wrk, 2 threads, {args.connections} keep-alive connections, {args.duration}s each\n"
    )
    with Server(installation, workers=args.workers, threads=args.threads) as server:
        wrk(f"{server.url}/healthz", 2, args.connections)  # warm up
        trivial = measured(server, 1, f"{server.url}/healthz", args.duration, args.connections)
        single = measured(
            server,
            1,
            server.url,
            args.duration,
            args.connections,
            HERE / "single_event.lua",
            {"BENCH_KEY": secret, "BENCH_BODY_FILE": str(single_file)},
        )
        batch = measured(
            server,
            args.batch_size,
            server.url,
            args.duration,
            min(args.connections, 8),
            HERE / "batch.lua",
            {"BENCH_KEY": secret, "BENCH_BODY_FILE": str(batch_file)},
        )
    stored = count_events(app, org_id)
    expected = (
        single["requests"]
        - single["non_2xx"]
        + (batch["requests"] - batch["non_2xx"]) * args.batch_size
    )

    single_rate = single["rps"]
    batch_rate = batch["rps"] * args.batch_size
    rows = [
        ("GET /healthz (trivial baseline)", trivial["rps"], "req/s", None, None, trivial),
        (
            "POST /audit_logs/events",
            single_rate,
            "events/s",
            trivial["rps"],
            ">= 1,000/s and >= 0.50x",
            single,
        ),
        (
            "POST /audit_logs/events/batch",
            batch_rate,
            "events/s",
            single_rate,
            ">= 30,000/s",
            batch,
        ),
    ]
    print(f"{'measurement':36} {'figure':>16} {'baseline':>12} {'ratio':>8}  {'p99':>8}  target")
    for name, figure, unit, baseline, target, raw in rows:
        ratio = f"{figure / baseline:.2f}x" if baseline else ""
        base = f"{baseline:,.0f}" if baseline else ""
        line = f"{name:36} {figure:>10,.0f} {unit:8} {base:>9}   {ratio:>8}  {raw['p99']:>8}"
        print(f"{line}  {target or ''}")
    print(
        f"\nErrors: non-2xx single={single['non_2xx']} batch={batch['non_2xx']}; "
        f"socket: {single['socket_errors'] or 'none'} / {batch['socket_errors'] or 'none'}"
    )
    print(
        "\nCPU per request or event, µs, from /proc ('machine' also counts wrk, the gunicorn\n"
        "master, the kernel and any database server; 'idle' includes waiting for I/O):\n"
        f"{'measurement':36} {'workers':>8} {'writer':>8} {'machine':>8}  {'idle':>5}"
    )
    for name, _figure, _unit, _baseline, _target, raw in rows:
        cpu = raw["cpu"]
        writer = "n/a" if cpu["writer"] is None else f"{cpu['writer']:,.0f}"
        print(
            f"{name:36} {cpu['workers']:>8,.0f} {writer:>8} {cpu['machine']:>8,.0f}"
            f"  {cpu['idle']:>5.0%}"
        )
        if cpu["changed"]:
            print("  (a server process exited or started meanwhile: its CPU is incomplete)")
    in_flight = args.connections + min(args.connections, 8) * args.batch_size
    verdict = "OK" if expected <= stored <= expected + in_flight else "MISMATCH"
    print(
        f"Stored events: {stored:,}; acknowledged: {expected:,} "
        f"(plus any in flight at the end): {verdict}"
    )
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "ingest.json").write_text(
        json.dumps(
            {
                "database": database,
                "trivial": trivial,
                "single": single,
                "batch": batch,
                "batch_size": args.batch_size,
                "stored": stored,
                "expected": expected,
            },
            indent=2,
        )
    )
    shutil.rmtree(installation.directory, ignore_errors=True)


if __name__ == "__main__":
    main()
