"""Debian's rsyslogd as the receiver of the syslog streams' tests: a real syslog server
parses what the stream sends, as a customer's collector would.

    with Rsyslog(tls=True) as receiver:
        ... send to 127.0.0.1:receiver.port, trusting receiver.ca_pem ...
        messages = receiver.messages(3)  # waits until 3 have arrived
        assert messages[0].record == {...} and messages[0].params["seq"] == "1"

Each rsyslogd runs in the foreground (``-n``) from a config, a pid file and a work
directory of its own in a temporary directory, with one input: ``imtcp`` on 127.0.0.1
(octet-counted framing is on by default), on a free port it writes to a file. Nothing
touches /var or /dev/log. Each message is written twice, line by line: as received
(``%rawmsg%``) and as rsyslog's RFC 5424 parser and ``mmpstrucdata`` read it (JSON), so a
test checks what a collector would index, not only what went over the wire.
``stop()`` and ``start()`` again take the receiver down and bring it back on the same
port, for the "receiver restarted" tests.

The module also parses frames and messages itself (``frames``, ``parse_message``), for the
tests that need no server, makes throwaway CAs (``Authority``) for TLS, and has a bare
TLS 1.3 server (``TlsSink``) for what rsyslog's TLS does not do (session tickets).
"""

import contextlib
import ipaddress
import json
import os
import re
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RSYSLOGD = "/usr/sbin/rsyslogd"
INSTALL = "apt-get install rsyslog rsyslog-gnutls"
SD_ID = "auditlog@32473"
BOM = "\ufeff"
WAIT_SECONDS = 30.0  # generous: a loaded machine may be slow, and a pass never waits it out
MAX_MESSAGE = "1m"  # rsyslog's default, 8k, would truncate a large event


def require_rsyslogd():
    """Skip the calling test where rsyslog is not installed (CI, which installs it, sets
    ``AUDITLOG_REQUIRE_RSYSLOG``: there a missing rsyslogd fails instead)."""
    if not os.access(RSYSLOGD, os.X_OK):
        if os.environ.get("AUDITLOG_REQUIRE_RSYSLOG"):
            pytest.fail(f"rsyslogd is not installed ({INSTALL})")
        pytest.skip(f"rsyslogd is not installed ({INSTALL})")


# Messages, as rsyslog and as this module read them.


@dataclass(frozen=True)
class Message:
    """One RFC 5424 message: its header fields, its structured data (``sd``: SD-ID ->
    parameters, unescaped) and ``msg`` (the MSG, its BOM included); ``raw`` as received."""

    raw: str
    pri: int
    version: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    structured_data: str
    sd: dict = field(default_factory=dict)
    msg: str = ""

    @property
    def params(self):
        """The stream's structured-data parameters (``id``, ``seq``, ``hash``, ``org``)."""
        return self.sd[SD_ID]

    @property
    def record(self):
        """The event: the JSON after the BOM (which must be there: it says UTF-8)."""
        assert self.msg.startswith(BOM), f"the MSG does not start with a BOM: {self.msg[:20]!r}"
        return json.loads(self.msg[len(BOM) :])


HEADER = re.compile(r"<(\d{1,3})>([1-9]\d{0,2}) (\S+) (\S+) (\S+) (\S+) (\S+) ")


def structured_data(text):
    """Parse RFC 5424 STRUCTURED-DATA at the start of ``text``: ``(elements, its text, the
    rest)``. Inside a value, ``\\`` escapes ``"``, ``\\`` and ``]``; before any other
    character it stays a backslash (section 6.3.3)."""
    if text.startswith("-"):
        return {}, "-", text[1:]
    elements, at = {}, 0
    while text.startswith("[", at):
        end = next(i for i in range(at + 1, len(text)) if text[i] in " ]")
        params = elements.setdefault(text[at + 1 : end], {})
        at = end
        while text[at] == " ":
            equals = text.index("=", at)
            name = text[at + 1 : equals]
            if text[equals + 1] != '"':
                raise ValueError(f"the value of {name} is not quoted")
            value, at = [], equals + 2
            while text[at] != '"':
                if text[at] == "\\" and text[at + 1] in '"\\]':
                    at += 1
                value.append(text[at])
                at += 1
            params[name] = "".join(value)
            at += 1
        if text[at] != "]":
            raise ValueError(f"the element ends with {text[at]!r}, not ]")
        at += 1
    if not at:
        raise ValueError("no structured data (neither - nor [...])")
    return elements, text[:at], text[at:]


def parse_message(raw):
    """A strict reading of one RFC 5424 message (bytes or text); ``ValueError`` if it is
    not one. The header must be printable US-ASCII."""
    raw = raw.decode() if isinstance(raw, bytes) else raw
    match = HEADER.match(raw)
    if match is None or not match.group().isascii():
        raise ValueError(f"not an RFC 5424 header: {raw[:80]!r}")
    sd, sd_text, rest = structured_data(raw[match.end() :])
    if rest and not rest.startswith(" "):
        raise ValueError(f"no space after the structured data: {rest[:20]!r}")
    pri, version, *fields = match.groups()
    return Message(raw, int(pri), int(version), *fields, sd_text, sd, rest[1:])


def frames(data):
    """Split RFC 6587 octet-counted frames (``<length> SP <message>``) into messages;
    ``ValueError`` for anything else, a partial frame included."""
    messages, at = [], 0
    while at < len(data):
        space = data.index(b" ", at)
        length = data[at:space]
        if not length.isdigit() or length.startswith(b"0"):
            raise ValueError(f"not a frame length: {length[:20]!r}")
        end = space + 1 + int(length)
        if end > len(data):
            raise ValueError("the last frame is cut short")
        messages.append(data[space + 1 : end])
        at = end
    return messages


def from_rsyslog(raw, line):
    """A message as rsyslog's parser read it (the ``fields`` template's JSON line)."""
    fields = json.loads(line)
    return Message(
        raw=raw,
        pri=int(fields["pri"]),
        version=int(fields["version"]),
        timestamp=fields["timestamp"],
        hostname=fields["hostname"],
        app_name=fields["app_name"],
        procid=fields["procid"],
        msgid=fields["msgid"],
        structured_data=fields["structured_data"],
        sd=json.loads(fields["sd"]) if fields["sd"] else {},
        msg=fields["msg"],
    )


# Certificates.


class Authority:
    """A throwaway certificate authority: ``pem`` is its certificate, ``issue`` signs a
    server certificate for the given host names and IP addresses."""

    def __init__(self, name="auditlog test CA"):
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.key = ec.generate_private_key(ec.SECP256R1())
        public = self.key.public_key()
        self.certificate = (
            self.builder(self.name, public)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def builder(self, subject, public_key):
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=2))
        )

    def issue(self, names=("localhost", "127.0.0.1")):
        """A server certificate and its key, both PEM text."""
        key = ec.generate_private_key(ec.SECP256R1())
        alternative = []
        for name in names:
            try:
                alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternative.append(x509.DNSName(name))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        certificate = (
            self.builder(subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


# The server.

CONFIG = """\
global(
  workDirectory="{directory}"
  maxMessageSize="{max_message}"
  parser.escapeControlCharactersOnReceive="off"
{tls_global})
module(load="imtcp"{tls_module})
module(load="mmpstrucdata")
template(name="raw" type="string" string="%rawmsg%\\n")
template(name="fields" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="sd" name="$!rfc5424-sd" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
ruleset(name="r") {{
  action(type="mmpstrucdata")
  action(type="omfile" file="{directory}/raw.log" template="raw")
  action(type="omfile" file="{directory}/fields.log" template="fields")
}}
input(type="imtcp" address="127.0.0.1" port="{port}"
      listenPortFileName="{directory}/port" ruleset="r")
"""
TLS_GLOBAL = """\
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="{directory}/ca.pem"
  defaultNetstreamDriverCertFile="{directory}/cert.pem"
  defaultNetstreamDriverKeyFile="{directory}/key.pem"
"""
TLS_MODULE = """ streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon\""""


class Rsyslog:
    """An rsyslogd listening on 127.0.0.1 (TLS with ``tls``: a certificate for
    ``names`` from ``authority``, a new CA by default). A context manager."""

    def __init__(self, tls=False, authority=None, names=("localhost", "127.0.0.1")):
        require_rsyslogd()
        self.tls = tls
        self.authority = authority or (Authority() if tls else None)
        self.names = names
        self.port = 0  # the first start takes a free port; later ones reuse it
        self.process = None
        self.log = None
        self.seen = 0  # messages before this one are forgotten (``forget``)
        self.temporary = tempfile.TemporaryDirectory(prefix="rsyslog-")
        self.directory = Path(self.temporary.name)

    @property
    def ca_pem(self):
        """The CA certificate the server's certificate chains to (TLS only)."""
        return self.authority.pem

    def configure(self):
        tls_global = tls_module = ""
        if self.tls:
            certificate, key = self.authority.issue(self.names)
            (self.directory / "ca.pem").write_text(self.authority.pem)
            (self.directory / "cert.pem").write_text(certificate)
            key_file = self.directory / "key.pem"
            key_file.write_text(key)
            key_file.chmod(0o600)
            tls_global = TLS_GLOBAL.format(directory=self.directory)
            tls_module = TLS_MODULE
        config = CONFIG.format(
            directory=self.directory,
            max_message=MAX_MESSAGE,
            port=self.port,
            tls_global=tls_global,
            tls_module=tls_module,
        )
        path = self.directory / "rsyslog.conf"
        path.write_text(config)
        return path

    def start(self):
        """Start rsyslogd and wait until it listens (on the port of the first start)."""
        config = self.configure()
        port_file = self.directory / "port"
        port_file.unlink(missing_ok=True)
        self.log = open(self.directory / "rsyslogd.log", "ab")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(config), "-i", str(self.directory / "rsyslogd.pid")],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
        )
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.listening(port_file):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rsyslogd did not start listening:\n{self.output()}")
            time.sleep(0.02)
        return self

    def listening(self, port_file):
        """Whether rsyslogd listens yet. On port 0 it writes the port it got to its port
        file; on a given port it writes no file, so a connection (closed at once, with
        nothing sent) is the sign."""
        if not self.port:
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text())
                return True
            return False
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=WAIT_SECONDS).close()
        except ConnectionRefusedError:
            return False
        return True

    def stop(self):
        """Stop rsyslogd (it writes what it has received before it exits)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                self.process.wait(WAIT_SECONDS)
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.temporary.cleanup()
            raise

    def __exit__(self, *exc_info):
        self.stop()
        self.temporary.cleanup()

    def output(self):
        """What rsyslogd printed (its errors), for a failure's message."""
        path = self.directory / "rsyslogd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def lines(self, name):
        """The complete lines of one output file (a line being written is left out)."""
        path = self.directory / name
        data = path.read_bytes() if path.exists() else b""
        return [line.decode() for line in data.split(b"\n")[:-1]]

    def received(self):
        raw, fields = self.lines("raw.log"), self.lines("fields.log")
        count = min(len(raw), len(fields))
        return [from_rsyslog(raw[n], fields[n]) for n in range(self.seen, count)]

    def messages(self, count=0):
        """The messages received since ``forget``, in arrival order, once at least
        ``count`` have arrived (polling their files; a generous wait, then a failure)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while len(received := self.received()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(received)} of {count} messages arrived; rsyslogd:\n{self.output()}"
                )
            time.sleep(0.02)
        return received

    def forget(self):
        """Leave the messages received so far out of ``messages`` (a shared receiver)."""
        self.seen = min(len(self.lines("raw.log")), len(self.lines("fields.log")))


class TlsSink:
    """A bare TLS 1.3 server made with Python's ``ssl``, keeping the bytes of each
    connection. OpenSSL sends session tickets after the handshake, which rsyslog's gtls
    does not: a sender must not take them for the receiver talking back."""

    def __init__(self, authority):
        certificate, key = authority.issue()
        self.directory = tempfile.TemporaryDirectory(prefix="tls-sink-")
        cert_file = Path(self.directory.name) / "cert.pem"
        key_file = Path(self.directory.name) / "key.pem"
        cert_file.write_text(certificate)
        key_file.write_text(key)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = []  # one bytes object per connection, complete once it closed
        self.threads = []
        self.accepting = threading.Thread(target=self.accept, daemon=True)

    def __enter__(self):
        self.accepting.start()
        return self

    def __exit__(self, *exc_info):
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        self.listener.close()
        self.accepting.join(WAIT_SECONDS)
        for thread in self.threads:
            thread.join(WAIT_SECONDS)
        self.directory.cleanup()

    def accept(self):
        while True:
            try:
                connection, _address = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self.read, args=(connection,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def read(self, connection):
        index = len(self.received)
        self.received.append(b"")
        with connection:
            connection.settimeout(WAIT_SECONDS)
            try:
                with self.context.wrap_socket(connection, server_side=True) as tls:
                    while data := tls.recv(65536):
                        self.received[index] += data
            except OSError:
                pass  # the client went away without a TLS goodbye

    def messages(self, count):
        """The messages received on all connections, once ``count`` have arrived."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            found = []
            for data in list(self.received):
                with contextlib.suppress(ValueError):  # a frame still arriving
                    found.extend(frames(data))
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)
