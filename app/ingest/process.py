"""The event writer in a process of its own, shared by every server process.

With gunicorn (``make run``, the benchmarks), the master starts ``flask events writer``
before the workers (app/ingest/supervisor.py). Each worker's request threads then send
their validated events, prepared as the writer's statements take them
(``EventWriter.prepare``), over a Unix socket and wait for the answer, instead of
handing them to a writer thread of their own process. Why:

- **One group commit for all processes.** Two server processes with a writer each take
  turns on SQLite's single write lock; one writer process puts every request in flight,
  whichever worker it came to, into the same transaction and fsync.
- **No GIL shared with request threads.** A writer thread waits for the GIL after each of
  its database calls while request threads hold it; under load those waits, not the
  SQL, made up most of a transaction's time, with the write lock held through them
  (figures: docs/performance.md). The writer process has one busy thread.

Answers keep the in-process writer's promise: a request is answered only after the
transaction holding its events has committed. If the writer process cannot be reached
(not started, restarting, or not through the key handshake in time), a worker stores its
events itself with the in-process writer. If it dies with a request in flight, that
request gets a 503 ("may or may not be stored"); a retry with the same Idempotency-Key
stores the events once.

Messages are pickled; the socket lives in a directory only this user can open, and
every connection must also prove it knows a random key (``multiprocessing``'s HMAC
handshake) before anything is unpickled. A job travels as ``job_message`` makes it,
headed by ``MESSAGE_VERSION``: a writer process that gets a job of another version
(a worker of older or newer code, during a reload) answers ``("unsupported", its
version)`` without storing it, and the worker stores that job itself. A message that is
not a versioned job at all only drops its connection.
"""

import contextlib
import logging
import os
import pickle
import socket
import struct
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge, wait

from app.ingest.writer import SUBMIT_TIMEOUT_SECONDS, EventWriter, Job
from app.ledger.append import MAX_EVENTS_PER_TRANSACTION, Prepared

log = logging.getLogger(__name__)

ADDRESS_VARIABLE = "EVENT_WRITER_ADDRESS"  # the Unix socket's path
KEY_VARIABLE = "EVENT_WRITER_KEY"  # the handshake key, hex
HANDSHAKE_SECONDS = 5  # to connect and prove the key, each way
IO_SECONDS = 30  # a peer that stops mid-message is dropped after this
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a job from a 1 MiB request is far smaller
SEND_BUFFER_BYTES = 4 * 1024 * 1024
LISTEN_BACKLOG = 128
PARENT_CHECK_SECONDS = 1.0
# Bump whenever the job message changes shape (``Prepared`` included).
MESSAGE_VERSION = 3


class WriterUnavailable(Exception):
    """The writer process could not be reached; nothing was sent."""


class WriterLost(TimeoutError):
    """The writer process went away with a job in flight: it may or may not be stored
    (answered as the writer not answering in time)."""


class WriterServer:
    """Serves jobs from any number of connections, many jobs per transaction.

    ``parent_pid``: stop when this process is no longer the parent (the gunicorn master
    was killed), checked every second.
    """

    def __init__(self, engine, address, authkey, parent_pid=None):
        self.writer = EventWriter(engine)
        self.authkey = authkey
        self.parent_pid = parent_pid
        self.address = address
        if os.path.exists(address):  # left by a writer process that was killed
            os.unlink(address)
        self.listening = socket.socket(socket.AF_UNIX)
        self.listening.bind(address)
        self.listening.listen(LISTEN_BACKLOG)
        self.connections = []
        self.lock = threading.Lock()  # guards connections between the threads
        self.wake_reader, self.wake_writer = socket.socketpair()
        self.stopping = threading.Event()

    def serve_forever(self):
        """Accept connections in a thread; store jobs in this one until ``stop()``."""
        self.start_accepting()
        try:
            while not self.stopping.is_set():
                self.serve_once()
        finally:
            self.close()

    def close(self):
        """Stop listening, close every connection and the writer's database connection."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listening.shutdown(socket.SHUT_RDWR)  # wakes the accept thread
        self.listening.close()
        if os.path.exists(self.address):
            os.unlink(self.address)
        with self.lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            connection.close()
        self.wake_reader.close()
        self.wake_writer.close()
        self.writer.stop()

    def stop(self):
        """Finish the transaction in progress, then return from ``serve_forever``."""
        self.stopping.set()
        self.wake()

    def wake(self):
        """Wake the serving thread from its wait (nothing to do once it has closed)."""
        with contextlib.suppress(OSError):
            self.wake_writer.send(b"x")

    def start_accepting(self):
        """Admit clients that prove they know the key, from a thread of their own (each
        handshake in a thread of its own too); ``serve_once`` serves them."""
        threading.Thread(target=self._accept, name="writer-accept", daemon=True).start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                sock, _address = self.listening.accept()
            except OSError:
                if self.stopping.is_set():
                    return
                continue
            # The handshake in a thread of its own: a client that stalls in it holds up
            # no other.
            threading.Thread(target=self._admit, args=(sock,), daemon=True).start()

    def _admit(self, sock):
        """Check that the client knows the key (both ways), then serve it."""
        try:
            connection = handshake(sock, self.authkey, server=True)
        except WriterUnavailable:
            return  # a client that failed or stalled in the handshake
        with self.lock:
            if self.stopping.is_set():
                connection.close()
                return
            self.connections.append(connection)
        self.wake()

    def serve_once(self):
        """Wait for jobs, store every one that arrived, answer each."""
        with self.lock:
            watched = [self.wake_reader, *self.connections]
        jobs = []
        for ready in wait(watched, timeout=PARENT_CHECK_SECONDS):
            if ready is self.wake_reader:
                self.wake_reader.recv(4096)
                continue
            try:
                # From a peer that proved it knows the key (``handshake``).
                message = pickle.loads(ready.recv_bytes(MAX_MESSAGE_BYTES))  # noqa: S301
                job = job_of(message)
            except UnsupportedVersion as error:
                self._reply(ready, ("unsupported", MESSAGE_VERSION))
                log.warning("event writer: %s", error)
                continue
            except Exception as error:  # the worker went away, or sent what is not a job
                if not isinstance(error, EOFError):
                    log.warning("event writer: dropping a connection: %r", error)
                self._drop(ready)
                continue
            jobs.append((ready, job))
        for group in groups(jobs):
            self.writer.store([job for _connection, job in group])
            for connection, job in group:
                self._answer(connection, job)
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            log.warning("event writer: the server that started it is gone; stopping")
            self.stopping.set()

    def _answer(self, connection, job):
        if job.error is None:
            answer = ("stored", job.stored)
        else:
            answer = ("error", f"{type(job.error).__name__}: {job.error}")
        self._reply(connection, answer)

    def _reply(self, connection, answer):
        try:
            connection.send(answer)
        except OSError:
            self._drop(connection)

    def _drop(self, connection):
        with self.lock:
            if connection in self.connections:
                self.connections.remove(connection)
        connection.close()


def handshake(sock, authkey, server):
    """A connected socket as a ``Connection`` whose peer proved it knows ``authkey``
    (``multiprocessing``'s HMAC challenge, each way), within ``HANDSHAKE_SECONDS``.

    ``WriterUnavailable`` if the peer fails, hangs up or stalls. After the handshake,
    reads and writes still give up after ``IO_SECONDS`` (a peer that stops mid-message).
    """
    try:
        set_timeouts(sock, HANDSHAKE_SECONDS)
        connection = Connection(sock.detach())
    except OSError as error:
        sock.close()
        raise WriterUnavailable from error
    try:
        if server:
            deliver_challenge(connection, authkey)
            answer_challenge(connection, authkey)
        else:
            answer_challenge(connection, authkey)
            deliver_challenge(connection, authkey)
        with socket.socket(fileno=os.dup(connection.fileno())) as same:
            set_timeouts(same, IO_SECONDS)
    except (OSError, EOFError, AuthenticationError) as error:
        connection.close()
        raise WriterUnavailable from error
    return connection


def set_timeouts(sock, seconds):
    """Blocking reads and writes on ``sock`` (and its file descriptor) give up after
    ``seconds`` (``settimeout`` would make the descriptor non-blocking instead)."""
    value = struct.pack("ll", int(seconds), 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


class UnsupportedVersion(ValueError):
    """A job message of another version than this code's."""


def job_message(job):
    """What a client sends for a prepared job (``EventWriter.prepare``)."""
    return (MESSAGE_VERSION, job.org_id, job.prepared, job.idempotency)


def job_of(message):
    """The ``Job`` a client sent: ``UnsupportedVersion`` for a job message of another
    version, ``TypeError`` or ``ValueError`` for anything else that is not one."""
    if not isinstance(message, tuple) or not message or type(message[0]) is not int:
        raise TypeError("not a versioned job message")
    if message[0] != MESSAGE_VERSION:
        raise UnsupportedVersion(f"a job message of version {message[0]}, not {MESSAGE_VERSION}")
    _version, org_id, prepared, idempotency = message
    if not isinstance(prepared, Prepared):
        raise TypeError(f"not a prepared job: {type(prepared).__name__}")
    return Job(org_id, [], [], idempotency, prepared)


def groups(jobs):
    """Jobs in transactions of at most ``MAX_EVENTS_PER_TRANSACTION`` events (a job whole)."""
    group, size = [], 0
    for item in jobs:
        if group and size + item[1].size > MAX_EVENTS_PER_TRANSACTION:
            yield group
            group, size = [], 0
        group.append(item)
        size += item[1].size
    if group:
        yield group


class RemoteWriter:
    """A ``Writer`` (app/ingest/writer.py): a server process's door to the writer process.

    Each request thread keeps a connection of its own, so answers need no routing.
    Jobs go to ``fallback`` (this process's own writer) while the writer process is
    unreachable.
    """

    def __init__(self, address, authkey, fallback):
        self.address = address
        self.authkey = authkey
        self.fallback = fallback
        self.local = threading.local()
        self.opened = []  # every thread's connection, closed by stop()
        self.lock = threading.Lock()

    def submit(self, job):
        """Store the job through the writer process (or the fallback); wait for the answer.

        The job is prepared here (``EventWriter.prepare``): the writer process gets the
        statements' values, not the rows."""
        self.fallback.prepare(job)
        try:
            self._send(job)
            job.stored = self._receive()
        except WriterUnavailable:
            return self.fallback.submit(job)
        return job

    def _connection(self):
        connection = getattr(self.local, "connection", None)
        if connection is None:
            sock = socket.socket(socket.AF_UNIX)
            try:
                # Room for a whole 1,000-event job: sent at once, it waits in the socket
                # until the writer reads it in one go. With the default (~200 KiB) the
                # writer, once it began reading a job, waited on the worker for each
                # next part. (Capped by the system's net.core.wmem_max.)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
                set_timeouts(sock, HANDSHAKE_SECONDS)
                sock.connect(self.address)
            except OSError as error:
                sock.close()
                log.warning("event writer process unreachable (%s): storing in-process", error)
                raise WriterUnavailable from error
            connection = handshake(sock, self.authkey, server=False)
            self.local.connection = connection
            with self.lock:
                self.opened.append(connection)
        return connection

    def _forget(self):
        connection = getattr(self.local, "connection", None)
        self.local.connection = None
        if connection is not None:
            with self.lock:
                if connection in self.opened:
                    self.opened.remove(connection)
            connection.close()

    def _send(self, job):
        """Send the job; ``WriterUnavailable`` if the writer process cannot take it."""
        for attempt in range(2):  # a kept connection may be stale: the writer restarted
            connection = self._connection()
            try:
                connection.send(job_message(job))
                return
            except OSError as error:
                self._forget()
                if attempt:
                    raise WriterUnavailable from error

    def _receive(self):
        connection = self.local.connection
        try:
            answered = connection.poll(SUBMIT_TIMEOUT_SECONDS)
            kind, value = connection.recv() if answered else (None, None)
        except (EOFError, OSError) as error:
            self._forget()
            raise WriterLost("the event writer process went away") from error
        if not answered:
            self._forget()  # a late answer must not be read as the next job's
            raise TimeoutError("the event writer process did not answer in time")
        if kind == "error":
            raise RuntimeError(f"the event writer process failed: {value}")
        if kind == "unsupported":  # nothing was stored
            log.warning("event writer process speaks version %s: storing in-process", value)
            raise WriterUnavailable(f"message version {value}")
        return value

    def stop(self):
        """Close every thread's connection and stop the fallback writer."""
        with self.lock:
            opened, self.opened = self.opened, []
        for connection in opened:
            connection.close()
        self.fallback.stop()


def configured_address(config):
    """``(address, key)`` of the writer process this server should use, or ``None``."""
    address, key = config.get(ADDRESS_VARIABLE), config.get(KEY_VARIABLE)
    if not address or not key:
        return None
    return address, bytes.fromhex(key)
