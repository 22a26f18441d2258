"""A throwaway installation for benchmarks: its own database, an org, a key, a schema,
and the production server (gunicorn) serving it."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from flask_migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Installation:
    """A migrated database with one organization, an API key and the seed's schema."""

    def __init__(self, database_url=None):
        self.directory = Path(tempfile.mkdtemp(prefix="auditlog-bench-"))
        self.database_url = database_url or f"sqlite:///{self.directory / 'bench.db'}"

    def environment(self):
        """What the server process needs."""
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": "benchmark-only",
            "API_RATE_LIMIT": "1000000000 per 60 seconds",
        }

    def prepare(self):
        """Migrate and create the organization, key and schema; returns (org_id, secret)."""
        from app import create_app
        from app.config import database_uri
        from app.extensions import db
        from app.keys.services import create_key
        from app.orgs.services import create_organization
        from app.schemas.services import create_schema

        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_uri(self.database_url, self.directory),
                "SECRET_KEY": "benchmark-only",
            }
        )
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            org = create_organization("Benchmark", actor=None)
            _key, secret = create_key(org, "bench", actor=None)
            create_schema(org, "user.signed_in", {"targets": [{"type": "team"}]}, actor=None)
            db.session.commit()
            org_id = org.id
            db.engine.dispose()
        return app, org_id, secret


class Server:
    """gunicorn serving the app, started and stopped around a benchmark.

    With ``--reuse-port``, each worker listens on a socket of its own and the kernel
    spreads new connections over them. With the one shared socket, the connections wrk
    opens all at once sometimes all went to one worker, and the figures then measured
    that race, not the server (figures: docs/performance.md, "Why ``--reuse-port``").
    (``make run`` keeps the shared socket: with ``reuse_port`` a second server started
    on the same port would silently share it instead of failing.)
    """

    def __init__(self, installation, workers=2, threads=1):
        self.installation = installation
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
            "--reuse-port",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "app:create_app()",
        ]
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.installation.environment())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.process.kill()
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)
