"""``make bench-viewer``: the event viewer's server time at 1,000,000 events per organization.

Two organizations get ``--events`` demo events each (app/demo/generator.py, the generator
``flask demo seed`` uses). The database is kept under instance/bench/ (SQLite) or in
``--database-url`` (PostgreSQL) and reused by later runs.

For the first page, each filter alone and several combined, and a later page, the
benchmark requests the page as htmx does (the results partial, through the whole Flask
stack in-process: routing, session, access check, queries, template) and reports p50/p95
of the server time. Beside it: the raw SQL time of the same page, i.e. the statements
that request ran, replayed on a bare DBAPI cursor, and the ratio server/SQL. The target
is p95 <= 100 ms. Then the read API's pages and a full pass over one organization's
events while others are added (bench/reads.py). Nothing here asserts a time.
"""

import argparse
import gc
import json
import statistics
import time
from pathlib import Path

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ORG_NAMES = ("Bench Org A", "Bench Org B")
USER = "bench@example.com"


def make_app(database_url):
    """The app on the benchmark database, migrated."""
    from flask_migrate import upgrade

    from app import create_app
    from app.config import database_uri

    directory = ROOT / "instance" / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    uri = (
        database_uri(database_url, directory)
        if database_url
        else (f"sqlite:///{directory / 'viewer.db'}")
    )
    # The read API's full pass makes 10,000 requests with one key, faster than it may.
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": uri,
            "SECRET_KEY": "benchmark-only",
            "API_RATE_LIMIT": "1000000 per 60 seconds",
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def prepare(app, count):
    """Both organizations with ``count`` events each (reused when already there)."""
    from app.accounts import services as accounts
    from app.demo import generator
    from app.extensions import db
    from app.ledger.models import Event
    from app.orgs import services as orgs
    from app.orgs.models import Organization

    with app.app_context():
        user = accounts.find_user(USER) or accounts.create_user(USER, "bench-password-1")
        ids = []
        for index, name in enumerate(ORG_NAMES):
            org = db.session.scalar(select(Organization).where(Organization.name == name))
            if org is None:
                org = orgs.create_organization(name, admin=user, actor=None)
                generator.configure_actions(org)
                db.session.commit()
            have = db.session.scalar(
                select(func.count()).select_from(Event).where(Event.organization_id == org.id)
            )
            db.session.commit()  # the event writer needs SQLite's write lock
            if have < count:
                print(f"{name}: generating {count - have:,} events", flush=True)
                started, done = time.monotonic(), [0]

                def progress(n, started=started, done=done, missing=count - have):
                    done[0] += n
                    if done[0] % 50_000 < n or done[0] == missing:
                        rate = done[0] / (time.monotonic() - started)
                        print(f"  {done[0]:>9,} / {missing:,}  ({rate:,.0f} events/s)", flush=True)

                generator.seed_events(
                    org.id, count - have, seed=index + 1 + have, progress=progress
                )
                generator.refresh_statistics()
            ids.append(org.id)
        writer = app.extensions.get("auditlog.event_writer")
        if writer is not None:
            writer.stop()
        return ids, user.id


def scenarios(app, org_id):
    """(label, query string) pairs, with values taken from the data."""
    from app.extensions import db
    from app.ledger.models import Event, EventTarget

    with app.app_context():
        busy_actor = db.session.scalar(
            select(Event.actor_id)
            .where(Event.organization_id == org_id, Event.actor_id.like("user_%"))
            .limit(1)
        )
        name = db.session.scalar(
            select(Event.actor_name)
            .where(Event.organization_id == org_id, Event.actor_name.is_not(None))
            .limit(1)
        )
        doc = db.session.scalar(
            select(EventTarget.target_id)
            .where(EventTarget.organization_id == org_id, EventTarget.type == "document")
            .limit(1)
        )
    first_name = name.split()[0]
    return [
        ("first page", ""),
        ("range: last 24 hours", "range=24h"),
        ("range: last 7 days", "range=7d"),
        ("range: custom 10 days", "range=custom&from=2000-01-01T00:00&until=2100-01-01T00:00"),
        ("action: common (user.signed_in)", "action=user.signed_in"),
        ("action: rare (api_key.revoked)", "action=api_key.revoked"),
        ("action: three", "action=document.deleted&action=invoice.paid&action=team.member_removed"),
        (f"actor: one id ({busy_actor})", f"actor={busy_actor}"),
        (f"actor: name prefix ({first_name})", f"actor={first_name}"),
        ("actor: broad prefix (user_)", "actor=user_"),
        ("target type: invoice", "target_type=invoice"),
        ("target type: api_key (rare)", "target_type=api_key"),
        (f"target id: {doc}", f"target_id={doc}"),
        ("target type + id: team_03", "target_type=team&target_id=team_03"),
        ("text: common (signed)", "q=signed"),
        ("text: target name (Incident report)", "q=Incident+report"),
        ("text: rare (Invoice #000123)", "q=Invoice+%23000123"),
        ("text: no match (zzzzz)", "q=zzzzz"),
        ("action + actor", f"action=document.viewed&actor={first_name}"),
        ("7 days + target type + text", "range=7d&target_type=document&q=budget"),
        ("action + target id", f"action=document.viewed&target_id={doc}"),
        ("actor + text", "actor=user_00&q=roadmap"),
        ("rare action + broad actor", "action=api_key.revoked&actor=user_"),
        (
            "everything",
            f"range=30d&action=document.viewed&action=document.updated&actor={first_name}"
            f"&target_type=document&q=plan",
        ),
    ]


class StatementLog:
    """The SQL statements (and parameters) the app sends while recording."""

    def __init__(self, engine):
        self.engine = engine
        self.statements = None
        sa_event.listen(engine, "before_cursor_execute", self.record)

    def record(self, _conn, _cursor, statement, parameters, _context, executemany):
        if self.statements is not None and not executemany:
            self.statements.append((statement, parameters))


def replay(engine, statements, runs):
    """Times (ms) of running the statements, fetching every row, on a bare DBAPI cursor."""
    raw = engine.raw_connection()
    try:
        times = []
        for _ in range(runs):
            cursor = raw.cursor()
            started = time.perf_counter()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
            cursor.close()
            raw.rollback()
        return times
    finally:
        raw.close()


def p95(times):
    return statistics.quantiles(times, n=20)[-1]


def measure(app, org_id, user_id, cases, runs, path="events"):
    """For each case: server p50/p95 and raw SQL p50/p95 in ms."""
    from app.extensions import db

    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    with app.app_context():
        engine = db.engine
        log = StatementLog(engine)
    results = []
    headers = {"HX-Request": "true"}
    for label, query in cases:
        url = f"/orgs/{org_id}/{path}?{query}"
        for _ in range(3):  # warm caches
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code)
        log.statements = []
        client.get(url, headers=headers)
        statements = [
            (s, p) for s, p in log.statements if s.lstrip().upper().startswith(("SELECT", "WITH"))
        ]
        log.statements = None
        server = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(url, headers=headers)
            server.append((time.perf_counter() - started) * 1000)
        sql = replay(engine, statements, runs)
        html = client.get(url, headers=headers).get_data(as_text=True)
        rows = html.count('class="event-row"')
        results.append(
            {
                "case": label,
                "query": query,
                "rows": rows,
                "server_p50": statistics.median(server),
                "server_p95": p95(server),
                "sql_p50": statistics.median(sql),
                "sql_p95": p95(sql),
            }
        )
        print_row(results[-1])
    return results


def later_page(app, org_id, user_id, runs):
    """Page 20 of the unfiltered list, through its cursor."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    import re

    url = f"/orgs/{org_id}/events"
    for _ in range(19):
        html = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        url = re.search(r'hx-get="([^"]*after=[^"]*)"', html).group(1).replace("&amp;", "&")
    return url.split("?", 1)[1]


def print_row(row):
    ratio = row["server_p95"] / row["sql_p95"] if row["sql_p95"] else float("inf")
    flag = "ok" if row["server_p95"] <= 100 else "SLOW"
    times = [row[name] for name in ("server_p50", "server_p95", "sql_p50", "sql_p95")]
    figures = " ".join(f"{value:>8.1f}" for value in times)
    print(f"{row['case'][:44]:<44} {row['rows']:>4} {figures} {ratio:>6.2f}x  {flag}", flush=True)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events per organization")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per case")
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (default: SQLite in instance/bench/)"
    )
    parser.add_argument("--prepare-only", action="store_true", help="generate the data and stop")
    parser.add_argument("--reads-only", action="store_true", help="only the read API's figures")
    args = parser.parse_args()

    app = make_app(args.database_url)
    database = "PostgreSQL" if args.database_url else "SQLite"
    (org_a, org_b), user_id = prepare(app, args.events)
    if args.prepare_only:
        return
    gc.freeze()  # as the server's processes do once loaded (gunicorn.conf.py)
    if args.reads_only:
        from bench import reads

        reads.measure(app, org_a, args.runs)
        reads.full_pass(app, org_b)
        return
    print(
        f"\nEvent viewer on {database}: {args.events:,} events in each of 2 organizations; "
        f"{args.runs} requests per case, as htmx sends them (results partial)\n"
    )
    columns = ("srv p50", "srv p95", "sql p50", "sql p95", "ratio")
    print(f"{'case':<44} {'rows':>4} " + " ".join(f"{name:>8}" for name in columns))
    cases = scenarios(app, org_a)
    cases.append(("page 20 (cursor)", later_page(app, org_a, user_id, 1)))
    results = measure(app, org_a, user_id, cases, args.runs)
    print("\nThe chart (loaded after the list, by its own request):")
    chart = measure(
        app,
        org_a,
        user_id,
        [
            ("chart: all time, per week", ""),
            ("chart: last 24 hours, per hour", "range=24h"),
            ("chart: one action, per week", "action=invoice.paid"),
        ],
        5,
        path="events/chart",
    )
    slow = [r for r in results if r["server_p95"] > 100]
    print(f"\nList pages: {len(results) - len(slow)} of {len(results)} at or under 100 ms p95.")
    from bench import reads

    api = reads.measure(app, org_a, args.runs)
    api_slow = [r for r in api if r["server_p95"] > 100]
    print(f"\nRead API pages: {len(api) - len(api_slow)} of {len(api)} at or under 100 ms p95.")
    # In the other organization: the events it adds would stay at the top of A's chain,
    # where the next run's cases start their walks.
    api.append(reads.full_pass(app, org_b))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"viewer-{database.lower()}.json"
    out.write_text(
        json.dumps(
            {
                "database": database,
                "events_per_org": args.events,
                "results": results + chart + api,
            },
            indent=2,
        )
    )
    print(f"Written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
