"""The event writer process: every server process's events through one writer, one
group commit; and what a server process does when the writer process is not there."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ingest.process import MESSAGE_VERSION, RemoteWriter, WriterServer, job_message
from app.ingest.services import event_writer
from app.ingest.writer import EventWriter, Job, idempotency_record
from app.ledger.models import Event
from tests.conftest import seed_event
from tests.test_writer import row


@pytest.fixture
def socket_directory():
    """A short private directory for Unix sockets (their paths are limited to ~107 bytes)."""
    directory = tempfile.mkdtemp(prefix="aw-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def writer_server(app, socket_directory):
    """A writer server for the app's database, serving from a thread; ``(address, key)``."""
    address, key = os.path.join(socket_directory, "writer.sock"), os.urandom(32)
    with app.app_context():
        server = WriterServer(db.engine, address, key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield address, key
    server.stop()
    thread.join(30)


def use_writer(app, address, key):
    """Point the app's server process at a writer process, as gunicorn.conf.py does."""
    app.config.update(EVENT_WRITER_ADDRESS=address, EVENT_WRITER_KEY=key.hex())


def count_events(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Event))


def test_api_events_are_stored_by_the_writer_process(app, api, api_org, seed_schema, writer_server):
    use_writer(app, *writer_server)
    body = {"organization_id": api_org, "event": seed_event()}
    first = api.post("/audit_logs/events", body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/audit_logs/events", body, headers={"Idempotency-Key": "k-1"})
    batch = api.post(
        "/audit_logs/events/batch", {"organization_id": api_org, "events": [seed_event()] * 3}
    )
    assert (first.status_code, again.status_code, batch.status_code) == (200, 200, 200)
    assert first.get_json() == again.get_json() == {"success": True}
    assert count_events(app) == 4  # the repeat stored nothing
    with app.app_context():
        writer = event_writer()
    assert isinstance(writer, RemoteWriter)
    assert writer.fallback.thread is None  # this process never wrote an event itself


def served_directly(app, socket_directory, count):
    """A writer server accepting (not serving: tests call ``serve_once``) and ``count``
    clients it has admitted."""
    address, key = os.path.join(socket_directory, "writer.sock"), b"k" * 32
    with app.app_context():
        server = WriterServer(db.engine, address, key)
    server.start_accepting()
    clients = [Client(address, family="AF_UNIX", authkey=key) for _ in range(count)]
    deadline = time.monotonic() + 30
    while len(server.connections) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return server, clients


def test_jobs_from_several_connections_share_one_transaction(app, make_org, socket_directory):
    org_id = make_org()
    server, clients = served_directly(app, socket_directory, 3)
    record = idempotency_record(org_id, "same-key", "fingerprint", {"success": True})
    for index, client in enumerate(clients):
        job = server.writer.prepare(Job(org_id, [row(org_id, f"evt_{index}")], [], dict(record)))
        client.send(job_message(job))
    server.serve_once()  # every job sent before is waiting: one transaction takes them all
    answers = [client.recv() for client in clients]
    assert server.writer.commits == 1
    assert sorted(answers) == [("stored", False), ("stored", False), ("stored", True)]
    assert count_events(app) == 1  # one key, one event
    for client in clients:
        client.close()
    server.close()


def test_a_job_of_another_version_is_refused_and_stored_by_its_worker(
    app, make_org, socket_directory
):
    """A worker of other code (during a reload) gets "unsupported" and nothing stored;
    this code's client then stores the job in-process."""
    org_id = make_org()
    server, [client] = served_directly(app, socket_directory, 1)
    job = server.writer.prepare(Job(org_id, [row(org_id, "evt_newer")], []))
    client.send((MESSAGE_VERSION + 1, *job_message(job)[1:]))
    server.serve_once()
    assert client.recv() == ("unsupported", MESSAGE_VERSION)
    assert count_events(app) == 0
    client.send(job_message(job))  # the connection stays usable
    server.serve_once()
    assert client.recv() == ("stored", True)
    client.close()
    server.close()


def test_a_writer_process_of_another_version_makes_the_worker_store_itself(
    app, make_org, socket_directory
):
    org_id = make_org()
    server, _clients = served_directly(app, socket_directory, 0)
    with app.app_context():
        remote = RemoteWriter(server.address, b"k" * 32, fallback=EventWriter(db.engine))
        # The writer process, answering as one of other code would.
        answering = threading.Thread(target=answer_unsupported, args=(server,), daemon=True)
        answering.start()
        job = remote.submit(Job(org_id, [row(org_id, "evt_1")], []))
        answering.join()
        assert job.stored and remote.fallback.commits == 1
        remote.stop()
    assert count_events(app) == 1
    server.close()


def answer_unsupported(server):
    """Wait for one job on the server's connections and answer it "unsupported"."""
    deadline = time.monotonic() + 30
    while not server.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    connection = server.connections[0]
    connection.recv_bytes()
    connection.send(("unsupported", MESSAGE_VERSION + 1))


def test_an_unversioned_message_drops_only_its_connection(app, make_org, socket_directory):
    """The form workers sent before messages were versioned: not stored, never answered
    as stored (the old worker's request fails; the SDK retries with its key)."""
    org_id = make_org()
    server, [old, current] = served_directly(app, socket_directory, 2)
    job = server.writer.prepare(Job(org_id, [row(org_id, "evt_1")], []))
    old.send((org_id, job.prepared, None))
    current.send(job_message(job))
    server.serve_once()
    assert current.recv() == ("stored", True)
    with pytest.raises(EOFError):
        old.recv()
    assert count_events(app) == 1
    current.close()
    server.close()


def test_a_failing_job_is_reported_and_the_writer_carries_on(app, make_org, writer_server):
    org_id = make_org()
    use_writer(app, *writer_server)
    bad = row(org_id, "evt_bad")
    bad["location"] = None  # NOT NULL
    with app.app_context():
        with pytest.raises(RuntimeError, match=r"NOT NULL|null value"):
            event_writer().submit(Job(org_id, [bad], []))
        assert event_writer().submit(Job(org_id, [row(org_id, "evt_ok")], [])).stored
    assert count_events(app) == 1


def test_a_client_without_the_key_is_refused(writer_server, app, make_org):
    address, key = writer_server
    with pytest.raises(AuthenticationError):
        Client(address, family="AF_UNIX", authkey=b"wrong" * 8)
    org_id = make_org()
    use_writer(app, address, key)
    with app.app_context():
        assert event_writer().submit(Job(org_id, [row(org_id, "evt_1")], [])).stored


def test_a_client_stalled_in_the_handshake_holds_up_no_other(app, make_org, writer_server):
    address, key = writer_server
    stalled = socket.socket(socket.AF_UNIX)
    stalled.connect(address)  # and never answers the challenge
    org_id = make_org()
    use_writer(app, address, key)
    with app.app_context():
        assert event_writer().submit(Job(org_id, [row(org_id, "evt_1")], [])).stored
        assert event_writer().fallback.thread is None
    stalled.close()
    assert count_events(app) == 1


def test_with_the_wrong_key_a_server_stores_events_itself(app, make_org, writer_server):
    address, _key = writer_server
    org_id = make_org()
    use_writer(app, address, b"not the key" * 3)
    with app.app_context():
        assert event_writer().submit(Job(org_id, [row(org_id, "evt_1")], [])).stored
        assert event_writer().fallback.thread.is_alive()
    assert count_events(app) == 1


def test_a_message_that_is_not_a_job_drops_only_its_connection(app, make_org, writer_server):
    address, key = writer_server
    odd = Client(address, family="AF_UNIX", authkey=key)
    odd.send(("not", "a job"))
    with pytest.raises(EOFError):
        odd.recv()  # the writer hung up on it
    odd.close()
    org_id = make_org()
    use_writer(app, address, key)
    with app.app_context():
        assert event_writer().submit(Job(org_id, [row(org_id, "evt_1")], [])).stored
        assert event_writer().fallback.thread is None


def test_a_database_failure_fails_the_group_at_once(app, make_org):
    """Not retried job by job: a lock wait that timed out would be waited out again for
    every job of the group."""
    org_id = make_org()
    with app.app_context():
        writer = event_writer()
        attempts = []

        def failing(jobs):
            attempts.append(len(jobs))
            raise db.engine.dialect.dbapi.OperationalError("database is locked")

        writer._write = failing
        jobs = [Job(org_id, [row(org_id, f"evt_{i}")], []) for i in range(3)]
        writer.store(jobs)
    assert attempts == [3]
    assert all("locked" in str(job.error) for job in jobs)
    assert count_events(app) == 0


def test_without_the_writer_process_a_server_stores_events_itself(
    app, api, api_org, seed_schema, socket_directory
):
    use_writer(app, os.path.join(socket_directory, "nobody-listens.sock"), b"k" * 32)
    response = api.post("/audit_logs/events", {"organization_id": api_org, "event": seed_event()})
    assert response.status_code == 200
    assert count_events(app) == 1
    with app.app_context():
        assert event_writer().fallback.thread.is_alive()


def test_a_writer_lost_with_the_request_in_flight_is_a_503(
    app, api, api_org, seed_schema, socket_directory
):
    """The events may or may not be stored: the client retries with its Idempotency-Key."""
    address, key = os.path.join(socket_directory, "writer.sock"), b"k" * 32
    listener = Listener(address, family="AF_UNIX", authkey=key)

    def take_the_job_and_die():
        connection = listener.accept()
        connection.recv()
        connection.close()

    dying = threading.Thread(target=take_the_job_and_die)
    dying.start()
    use_writer(app, address, key)
    body = {"organization_id": api_org, "event": seed_event()}
    response = api.post("/audit_logs/events", body, headers={"Idempotency-Key": "k-1"})
    dying.join()
    listener.close()
    assert response.status_code == 503
    assert response.get_json()["code"] == "unavailable"
    assert count_events(app) == 0
    # The retry finds no writer process and is stored by this process.
    retry = api.post("/audit_logs/events", body, headers={"Idempotency-Key": "k-1"})
    assert retry.status_code == 200
    assert count_events(app) == 1


def test_the_writer_command_needs_its_settings(runner):
    result = runner.invoke(args=["events", "writer"])
    assert result.exit_code == 2
    assert "EVENT_WRITER_ADDRESS" in result.output


def post_event(url, secret, org_id, key):
    """POST an event as the SDKs do: a 503 is retried with the same Idempotency-Key."""
    for _attempt in range(5):
        try:
            return post_once(url, secret, org_id, key)
        except urllib.error.HTTPError as error:
            if error.code != 503:
                raise
    return 503


def post_once(url, secret, org_id, key):
    request = urllib.request.Request(
        f"{url}/audit_logs/events",
        data=json.dumps({"organization_id": org_id, "event": seed_event()}).encode(),
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def children(pid):
    """The process ids of a process's children."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(child) for child in found.stdout.split()]


def command_of(pid):
    """A process's command line ("" once it has exited: workers come and go on a reload)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def process_state(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(line for line in status if line.startswith("State:")).lower()


def environment_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as environ:
        pairs = [item.split(b"=", 1) for item in environ.read().split(b"\0") if b"=" in item]
    return {name.decode(): value.decode() for name, value in pairs}


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process commands from /proc")
def test_gunicorn_starts_the_writer_process_and_replaces_it_if_it_dies():
    from bench.server import Installation, Server

    installation = Installation()
    app, org_id, secret = installation.prepare()
    try:
        with Server(installation, workers=2, threads=2) as server:
            writers = [
                pid for pid in children(server.process.pid) if "events writer" in command_of(pid)
            ]
            assert len(writers) == 1
            socket_path = environment_of(writers[0])["EVENT_WRITER_ADDRESS"]
            assert post_event(server.url, secret, org_id, "first") == 200
            os.kill(writers[0], signal.SIGKILL)
            # Stored by the worker itself or by the replacement writer process, either way
            # acknowledged only once stored; a request in flight as the writer died is
            # answered 503 and retried with its key.
            assert post_event(server.url, secret, org_id, "second") == 200
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                replacements = [
                    pid
                    for pid in children(server.process.pid)
                    if "events writer" in command_of(pid) and pid != writers[0]
                ]
                if replacements:
                    break
                time.sleep(0.1)
            assert replacements, "the writer process was not restarted"
            assert post_event(server.url, secret, org_id, "third") == 200
            # A reload (new code on disk) replaces the writer process too.
            os.kill(server.process.pid, signal.SIGHUP)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                reloaded = [
                    pid
                    for pid in children(server.process.pid)
                    if "events writer" in command_of(pid) and pid not in (writers[0], *replacements)
                ]
                if reloaded:
                    break
                time.sleep(0.1)
            assert reloaded, "the writer process was not replaced on reload"
            assert post_event(server.url, secret, org_id, "fourth") == 200
        assert count_events(app) == 4  # retries stored nothing twice
        for pid in (*replacements, *reloaded):
            assert not os.path.exists(f"/proc/{pid}") or "zombie" in process_state(pid)
        assert not os.path.exists(os.path.dirname(socket_path))  # removed at shutdown
    finally:
        shutil.rmtree(installation.directory, ignore_errors=True)
