"""Portal links for tests: generated through the API, opened by a test client."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.ledger.models import Event

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def generate(api, intent="audit_logs", **fields):
    """POST /portal/generate_link for the API client's organization: the response."""
    return api.post(
        "/portal/generate_link", json={"organization": api.org_id, "intent": intent, **fields}
    )


def link_for(api, intent="audit_logs", **fields):
    """A fresh link's path and query (what a browser would open)."""
    response = generate(api, intent, **fields)
    assert response.status_code == 201, response.get_json()
    parts = urlsplit(response.get_json()["link"])
    return f"{parts.path}?{parts.query}"


def open_portal(client, api, intent="audit_logs", **fields):
    """A test client in a portal session of ``intent``: the landing response."""
    return client.get(link_for(api, intent, **fields))


def recorded(app, org_id, action):
    """The organization's events of ``action``, oldest first, as stored."""
    with app.app_context():
        return db.session.scalars(
            select(Event)
            .where(Event.organization_id == org_id, Event.action == action)
            .order_by(Event.seq)
        ).all()


def metadata(event):
    """A stored event's metadata."""
    return json.loads(event.payload).get("metadata", {})


def node_sdk(live_server, key, *args):
    """Run tests/node/generate_link.mjs: (exit status, parsed stdout or stderr)."""
    if not (NODE_DIR / "node_modules" / "@workos-inc" / "node").is_dir() or not shutil.which(
        "node"
    ):
        if os.environ.get("AUDITLOG_REQUIRE_NODE"):
            pytest.fail(
                "The WorkOS Node SDK is not installed in tests/node (make test installs it)."
            )
        pytest.skip("The WorkOS Node SDK is not installed: run npm ci --prefix tests/node")
    completed = subprocess.run(
        ["node", str(NODE_DIR / "generate_link.mjs"), live_server.url, *args],
        env={**os.environ, "WORKOS_API_KEY": key},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = completed.stdout if completed.returncode == 0 else completed.stderr
    return completed.returncode, json.loads(output.strip().splitlines()[-1])
