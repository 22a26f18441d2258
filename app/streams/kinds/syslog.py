"""Syslog: one RFC 5424 message per event over TCP, or TLS (RFC 5425), framed by octet
counting (RFC 6587), as rsyslog, syslog-ng and most SIEM collectors take it.

``<PRI>1 <received_at> <our host> auditlog - <action> [auditlog@32473 id= seq= hash= org=]
BOM<record as JSON>``, each sent as ``<byte length> SP <message>`` (docs/streams.md).

Syslog over TCP has no answer: a receiver never says it took a message. So the most a
sender can know is that the receiver's TCP acknowledged the bytes. ``send`` waits for that
before it reports a batch delivered, and checks a kept connection before reusing it; what
the receiver loses after its TCP took the bytes (it crashed before writing them) cannot be
seen from here, and docs/streams.md says so.
"""

import fcntl
import ipaddress
import os
import re
import socket
import ssl
import struct
import termios
import time

from app.streams.kinds import TIMEOUT_SECONDS, Outcome, Setting, invalid, register
from app.timestamps import isoformat

APP_NAME = "auditlog"
# 32473 is the enterprise number RFC 5612 sets aside for examples: the SD-ID stays the
# same whoever runs the service, so one parsing rule in a SIEM fits every installation.
SD_ID = "auditlog@32473"
SEVERITY = 6  # informational: an audit event is a record, not an alarm
BOM = b"\xef\xbb\xbf"  # RFC 5424: a MSG that starts with it is UTF-8
# RFC 5424's limits on the header fields (section 6).
MAX_HOSTNAME = 255
MAX_MSGID = 32
DEFAULT_PORTS = {True: 6514, False: 514}  # RFC 5425 (TLS) and the traditional port
MAX_HOST = 253
GOODBYE_SECONDS = 2.0
MAX_CA = 200_000  # a bundle of a few hundred certificates; more is a mistake
HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
# The facilities of RFC 5424, table 1: (value stored, label, code).
FACILITIES = (
    ("kern", "kernel messages", 0),
    ("user", "user-level messages", 1),
    ("mail", "mail system", 2),
    ("daemon", "system daemons", 3),
    ("auth", "security/authorization messages", 4),
    ("syslog", "messages generated internally by syslogd", 5),
    ("lpr", "line printer subsystem", 6),
    ("news", "network news subsystem", 7),
    ("uucp", "UUCP subsystem", 8),
    ("cron", "clock daemon", 9),
    ("authpriv", "security/authorization messages (private)", 10),
    ("ftp", "FTP daemon", 11),
    ("ntp", "NTP subsystem", 12),
    ("audit", "log audit", 13),
    ("alert", "log alert", 14),
    ("clock", "clock daemon (note 2)", 15),
    *((f"local{n}", f"local use {n}", 16 + n) for n in range(8)),
)
FACILITY_CODES = {name: code for name, _label, code in FACILITIES}
DEFAULT_FACILITY = "audit"
TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


# The message and its frame.


def header_field(text, limit):
    """``text`` as an RFC 5424 header field: printable US-ASCII only (anything else, a space
    included, would end the field early, so it becomes ``_``), cut to ``limit``; ``-``
    (the nil value) when nothing is left."""
    printable = "".join(char if "!" <= char <= "~" else "_" for char in text)
    return printable[:limit] or "-"


def sd_value(text):
    """A structured-data parameter value: ``\\``, ``"`` and ``]`` escaped, as RFC 5424
    section 6.3.3 requires (backslash first, so the other escapes are not doubled)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def message(record, organization_id, hostname, facility):
    """One event as an RFC 5424 message (bytes). The action goes in MSGID, where a
    collector can route on it without parsing the JSON; the full action is in the JSON."""
    header = (
        f"<{facility * 8 + SEVERITY}>1 {isoformat(record.received_at)} {hostname} "
        f"{APP_NAME} - {header_field(record.action, MAX_MSGID)} "
    )
    data = (
        f'[{SD_ID} id="{sd_value(record.id)}" seq="{record.seq}" '
        f'hash="{sd_value(record.hash)}" org="{sd_value(organization_id)}"] '
    )
    return (header + data).encode() + BOM + record.line.encode()


def frame(payload):
    """RFC 6587 octet counting: the byte length, a space, the message. Unlike a newline
    after each message, it survives any byte inside one."""
    return b"%d %s" % (len(payload), payload)


# The connection.


def tls_context(ca_certificate):
    """Verify the server against the stream's CA bundle, or the system's CAs without one
    (``cadata`` given: those certificates only), by host name, on TLS 1.2 or later."""
    context = ssl.create_default_context(cadata=ca_certificate or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def still_open(connection):
    """Whether a kept connection can carry another batch: a read that does not wait finds
    nothing (fine), or the end: EOF (the receiver closed or restarted), a reset, a TLS
    close_notify. A send on such a connection would "succeed" into our kernel's buffer and
    be lost. A syslog receiver has nothing to say, so bytes it sends anyway are dropped;
    TLS 1.3 session tickets are read and kept by the TLS layer, which then says it would
    block."""
    connection.setblocking(False)
    try:
        while connection.recv(65536):
            pass  # a receiver that talks back: nothing to do with what it says
        return False
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return True
    except OSError:
        return False
    finally:
        connection.settimeout(TIMEOUT_SECONDS)


def unacknowledged(connection):
    """Bytes sent on ``connection`` that the peer's TCP has not acknowledged yet (Linux's
    SIOCOUTQ); ``None`` where the system cannot tell. A pending error (a reset) raises."""
    error = connection.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))  # ECONNRESET: ConnectionResetError
    try:
        answer = fcntl.ioctl(connection.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (OSError, AttributeError):  # not Linux: the send is all we know
        return None
    return struct.unpack("i", answer)[0]


def wait_acknowledged(connection):
    """Wait until the receiver's TCP has acknowledged every byte of the batch, so that a
    connection that died silently (a partition, a dropped NAT entry) fails the batch instead
    of losing it in our send buffer. Not knowing after the timeout is a failure: retried."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    pause = 0.001
    while pending := unacknowledged(connection):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the server has not acknowledged {pending} bytes after {TIMEOUT_SECONDS:.0f} s"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class SyslogSender:
    """Sends batches as octet-counted RFC 5424 messages over one kept connection."""

    def __init__(self, destination, hostname=None):
        settings = destination.settings
        self.host = settings["host"]
        self.tls = settings.get("tls", True)
        self.port = settings.get("port") or DEFAULT_PORTS[self.tls]
        self.facility = FACILITY_CODES[settings.get("facility") or DEFAULT_FACILITY]
        self.hostname = header_field(hostname or socket.gethostname(), MAX_HOSTNAME)
        self.context = tls_context(settings.get("ca_certificate")) if self.tls else None
        self.connection = None

    @property
    def address(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def payload(self, batch):
        """Every record's frame, in order: the whole batch goes out in one ``sendall``."""
        return b"".join(
            frame(message(record, batch.organization_id, self.hostname, self.facility))
            for record in batch.records
        )

    def send(self, batch):
        payload = self.payload(batch)
        if self.connection is not None and not still_open(self.connection):
            self.drop()
        while True:
            reused = self.connection is not None
            try:
                connection = self.connection or self.connect()
                connection.sendall(payload)
                wait_acknowledged(connection)
            except ssl.SSLCertVerificationError as error:
                self.drop()
                return Outcome.refused(
                    f"TLS: the certificate of {self.address} was not accepted "
                    f"({error.verify_message}); check the host name and the CA certificate."
                )
            except OSError as error:
                self.drop()
                if reused:
                    # The kept connection broke under the send (it passed the check just
                    # before): one more try on a new one, the whole batch again.
                    continue
                return Outcome.again(self.explain(error))
            return Outcome.delivered(f"{len(batch.records)} messages sent to {self.address}")

    def connect(self):
        connection = socket.create_connection((self.host, self.port), timeout=TIMEOUT_SECONDS)
        if self.context is not None:
            try:
                connection = self.context.wrap_socket(connection, server_hostname=self.host)
            except TimeoutError:
                connection.close()
                # A syslog server without TLS on this port waits for a line, silently.
                raise TimeoutError(
                    "no TLS handshake: does the server speak TLS on this port?"
                ) from None
            except BaseException:
                connection.close()
                raise
        self.connection = connection
        return connection

    def explain(self, error):
        """What went wrong, in the words the stream's page shows."""
        if isinstance(error, socket.gaierror):
            return f"{self.host}: the host name did not resolve ({error.strerror})."
        if isinstance(error, ConnectionRefusedError):
            return f"{self.address} refused the connection: is the syslog server listening?"
        if isinstance(error, TimeoutError):
            return f"{self.address}: {error or 'timed out'}."
        if isinstance(error, ssl.SSLError):
            return f"{self.address}: TLS failed ({error.reason or error})."
        return f"{self.address}: {type(error).__name__}: {error}"

    def drop(self):
        """Forget a connection that failed (nothing more can be said on it)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def close(self):
        """End the connection cleanly: over TLS, a close_notify first, so the receiver
        does not log each round's end as a broken connection (rsyslog does). Its answer
        is awaited briefly, since a syslog receiver owes none."""
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.settimeout(GOODBYE_SECONDS)
                self.connection.unwrap().close()
            except OSError:
                pass  # it closed first, or never answers: either way, done
        self.drop()


# The settings.


def check_host(settings):
    """A host name or an IP address (IPv6 with or without brackets), stripped."""
    host = str(settings.get("host") or "").strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise invalid("host", "Enter the syslog server's host name or IP address.")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if "://" in host or ":" in host or "/" in host:
        raise invalid("host", "Enter the host only: the port and TLS have their own fields.")
    labels = host.rstrip(".").split(".")
    if len(host) > MAX_HOST or not all(HOST_LABEL.fullmatch(label) for label in labels):
        raise invalid("host", "Enter a host name (letters, digits, - and .) or an IP address.")
    return host.rstrip(".").lower()


def check_port(settings):
    """A port from 1 to 65535, or ``None`` for the default of the transport."""
    port = settings.get("port")
    if port is None or (isinstance(port, str) and not port.strip()):
        return None
    try:
        port = int(str(port).strip()) if not isinstance(port, bool | float) else 0
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise invalid("port", "The port must be a whole number from 1 to 65535.")
    return port


def check_bool(settings, name, default):
    value = settings.get(name, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise invalid(name, "Choose yes or no.")


def check_ca(settings):
    """PEM certificates the server's certificate must chain to, as ``ssl`` will load them;
    empty: the system's CAs."""
    pem = str(settings.get("ca_certificate") or "").strip()
    if not pem:
        return ""
    if len(pem) > MAX_CA:
        raise invalid("ca_certificate", f"The bundle is longer than {MAX_CA} characters.")
    if "PRIVATE KEY" in pem:  # and it must not be stored: it belongs on the server only
        raise invalid("ca_certificate", "Paste the CA's certificate, never a private key.")
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise invalid("ca_certificate", "Paste PEM certificates (-----BEGIN CERTIFICATE-----).")
    try:
        tls_context(pem)
    except (ssl.SSLError, ValueError) as error:
        raise invalid("ca_certificate", f"The certificates could not be read: {error}.") from None
    return pem + "\n"


def check_facility(settings):
    """A facility's name (or its number, 0 to 23), stored by name."""
    value = str(settings.get("facility") or DEFAULT_FACILITY).strip().lower()
    if value.isdigit():
        names = {code: name for name, code in FACILITY_CODES.items()}
        value = names.get(int(value), value)
    if value not in FACILITY_CODES:
        raise invalid("facility", f"Choose one of the facilities: {', '.join(FACILITY_CODES)}.")
    return value


class SyslogKind:
    name = "syslog"
    label = "Syslog (RFC 5424)"
    workos_type = "Syslog"  # WorkOS has no syslog destination (docs/streams.md)
    max_batch = 1000
    secret_label = None
    generates_secret = False
    settings = (
        Setting(
            "host",
            "Host",
            required=True,
            help="The syslog server's host name or IP address.",
        ),
        Setting(
            "port",
            "Port",
            "int",
            help="Leave empty for the standard port: 6514 with TLS, 514 without.",
        ),
        Setting(
            "tls",
            "TLS",
            "bool",
            default=True,
            help="RFC 5425. Without it, events cross the network in clear text.",
        ),
        Setting(
            "ca_certificate",
            "CA certificate",
            "textarea",
            help="PEM certificates the server's certificate must chain to. "
            "Leave empty to trust the system's CAs.",
        ),
        Setting(
            "facility",
            "Facility",
            "choice",
            choices=tuple((name, f"{code} {label}") for name, label, code in FACILITIES),
            default=DEFAULT_FACILITY,
            help="Each message's priority is this facility with severity 6 (informational).",
        ),
    )

    def check(self, settings):
        return {
            "host": check_host(settings),
            "port": check_port(settings),
            "tls": check_bool(settings, "tls", True),
            "ca_certificate": check_ca(settings),
            "facility": check_facility(settings),
        }

    def describe(self, settings):
        tls = settings.get("tls", True)
        host = settings["host"]
        host = f"[{host}]" if ":" in host else host
        port = settings.get("port") or DEFAULT_PORTS[tls]
        return f"syslog {'TLS' if tls else 'TCP (no TLS)'} {host}:{port}"

    def sender(self, destination):
        return SyslogSender(destination)


register(SyslogKind())
