"""The syslog kind against Debian's rsyslogd (tests/streams/receivers/syslog.py): what a
collector parses out of each message, TLS verification, and batches that must survive a
receiver that was down or restarted. No app or database: batches are built by hand."""

import json
from dataclasses import replace

import pytest

from app.service_errors import ServiceError
from app.streams.kinds import Batch, kind_named
from app.streams.kinds import syslog as kind_module
from app.streams.kinds.syslog import SyslogKind, SyslogSender, frame, sd_value
from tests.streams.receivers.http import (
    ORGANIZATION_ID,
    STREAM_ID,
    make_batch,
    make_destination,
    make_record,
)
from tests.streams.receivers.syslog import (
    SD_ID,
    Authority,
    Rsyslog,
    TlsSink,
    frames,
    parse_message,
)

KIND = SyslogKind()
HOSTNAME = "auditlog-test"


def tricky_record(seq):
    """A record whose id, hash and action need escaping or cutting, and whose JSON holds
    non-ASCII text, ``]``, ``"`` and ``\\``."""
    record = make_record(seq, action="user.renamed.ünïcode.and.a.very.long.action.name")
    event = json.loads(record.line)
    event["metadata"] = {"name": 'Zoë "the ]bracket[" \\ 東京', "emoji": "🔐"}
    event["id"] = f'evt_"{seq}"]\\x'
    return replace(
        record,
        id=event["id"],
        hash=f'h"]\\{seq}',
        line=json.dumps(event, ensure_ascii=False, separators=(",", ":")),
    )


def mixed_batch(count, first_seq=1):
    """``count`` records: plain ones, a tricky one every tenth, a 100 kB one in the middle."""
    records = []
    for seq in range(first_seq, first_seq + count):
        if seq % 10 == 3:
            records.append(tricky_record(seq))
        elif seq == first_seq + count // 2:
            records.append(make_record(seq, padding=100_000))
        else:
            records.append(make_record(seq))
    return Batch(STREAM_ID, ORGANIZATION_ID, records)


def printable(text):
    """``text`` with each character outside printable US-ASCII as ``_``."""
    return "".join(char if "!" <= char <= "~" else "_" for char in text)


def settings(receiver, **changes):
    """Checked settings that reach ``receiver`` (trusting its CA over TLS)."""
    given = {"host": "127.0.0.1", "port": receiver.port, "tls": receiver.tls}
    if receiver.tls:
        given["ca_certificate"] = receiver.ca_pem
    return KIND.check({**given, **changes})


@pytest.fixture
def make_sender():
    """A sender for checked settings; every one is closed after the test."""
    senders = []

    def make(checked):
        sender = SyslogSender(make_destination(checked, None), hostname=HOSTNAME)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()


@pytest.fixture(scope="module")
def rsyslog_tcp():
    with Rsyslog(tls=False) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def rsyslog_tls():
    with Rsyslog(tls=True) as receiver:
        yield receiver


@pytest.fixture(params=["tcp", "tls"])
def receiver(request):
    """The shared rsyslogd of each mode, with what earlier tests sent forgotten."""
    shared = request.getfixturevalue(f"rsyslog_{request.param}")
    shared.forget()
    return shared


def assert_received(messages, batch, facility_code=13):
    """``messages`` are exactly the batch's records, in order, as rsyslog parsed them."""
    assert [message.params["seq"] for message in messages] == [
        str(record.seq) for record in batch.records
    ]
    for message, record in zip(messages, batch.records, strict=True):
        assert message.version == 1
        assert message.pri == facility_code * 8 + 6
        assert message.timestamp == record.received_at.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )
        assert (message.hostname, message.app_name, message.procid) == (HOSTNAME, "auditlog", "-")
        assert message.msgid == printable(record.action)[:32]
        assert list(message.sd) == [SD_ID]
        assert message.params == {
            "id": record.id,
            "seq": str(record.seq),
            "hash": record.hash,
            "org": ORGANIZATION_ID,
        }
        assert message.record == json.loads(record.line)
        assert parse_message(message.raw) == message  # our reading agrees with rsyslog's


# The message and its frame, without a server.


def test_frames_are_octet_counted_rfc5424_messages():
    batch = Batch(STREAM_ID, ORGANIZATION_ID, [make_record(1), tricky_record(3)])
    sender = SyslogSender(make_destination(KIND.check({"host": "x.example"}), None), "h")
    payload = sender.payload(batch)
    messages = frames(payload)
    assert len(messages) == 2
    for raw, record in zip(messages, batch.records, strict=True):
        assert frame(raw) in payload
        message = parse_message(raw)
        assert message.raw.encode() == raw
        assert message.pri == 110
        assert message.params == {
            "id": record.id,
            "seq": str(record.seq),
            "hash": record.hash,
            "org": ORGANIZATION_ID,
        }
        assert message.record == json.loads(record.line)
    tricky = messages[1].decode()
    assert 'id="evt_\\"3\\"\\]\\\\x"' in tricky  # escaped on the wire
    assert parse_message(tricky).msgid == "user.renamed._n_code.and.a.very."


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ('say "hi"', 'say \\"hi\\"'),
        ("a]b", "a\\]b"),
        ("back\\slash", "back\\\\slash"),
        ('\\"]', '\\\\\\"\\]'),
        ("Zoë [ok]", "Zoë [ok\\]"),
    ],
)
def test_sd_values_escape_quote_backslash_and_bracket(value, escaped):
    assert sd_value(value) == escaped


def test_header_fields_are_printable_ascii_within_their_limits():
    record = make_record(1, action="a" * 40)
    destination = make_destination(KIND.check({"host": "x.example"}), None)
    raw = SyslogSender(destination, hostname="my host ☃" + "h" * 300).payload(
        Batch(STREAM_ID, ORGANIZATION_ID, [record])
    )
    message = parse_message(frames(raw)[0])
    assert message.hostname == "my_host_" + "_" + "h" * 246
    assert message.msgid == "a" * 32


@pytest.mark.parametrize(
    ("facility", "pri"), [("kern", 6), ("user", 14), ("audit", 110), ("local7", 190)]
)
def test_the_facility_sets_the_priority(facility, pri):
    destination = make_destination(KIND.check({"host": "x.example", "facility": facility}), None)
    raw = SyslogSender(destination, "h").payload(make_batch(1))
    assert parse_message(frames(raw)[0]).pri == pri


# Delivery to rsyslog.


def test_a_full_batch_arrives_in_order_as_rfc5424(receiver, make_sender):
    batch = mixed_batch(KIND.max_batch)
    outcome = make_sender(settings(receiver)).send(batch)
    assert outcome.ok, outcome.message
    assert_received(receiver.messages(len(batch.records)), batch)


def test_the_facility_reaches_the_collector(rsyslog_tcp, make_sender):
    rsyslog_tcp.forget()
    batch = make_batch(2)
    assert make_sender(settings(rsyslog_tcp, facility="local3")).send(batch).ok
    assert_received(rsyslog_tcp.messages(2), batch, facility_code=19)


def test_batches_share_one_kept_connection(receiver, make_sender):
    sender = make_sender(settings(receiver))
    first, second = make_batch(5), make_batch(5, first_seq=6)
    assert sender.send(first).ok
    connection = sender.connection
    assert sender.send(second).ok
    assert sender.connection is connection
    assert_received(
        receiver.messages(10), Batch(STREAM_ID, ORGANIZATION_ID, first.records + second.records)
    )


def test_tls13_session_tickets_do_not_end_the_kept_connection(make_sender):
    authority = Authority()
    with TlsSink(authority) as sink:
        sender = make_sender(
            KIND.check({"host": "127.0.0.1", "port": sink.port, "ca_certificate": authority.pem})
        )
        assert sender.send(make_batch(3)).ok
        assert sender.connection.version() == "TLSv1.3"
        assert sender.send(make_batch(3, first_seq=4)).ok
        sender.close()
        messages = sink.messages(6)
        assert len(sink.received) == 1  # one connection carried both batches
    assert [parse_message(raw).params["seq"] for raw in messages] == [str(n) for n in range(1, 7)]


# TLS verification: an admin must act, so the stream pauses (refused, not retried).


def test_a_certificate_from_another_ca_is_refused(rsyslog_tls, make_sender):
    rsyslog_tls.forget()
    outcome = make_sender(settings(rsyslog_tls, ca_certificate=Authority().pem)).send(make_batch(1))
    assert not outcome.ok and not outcome.retry
    assert "certificate" in outcome.message and "unable to get local issuer" in outcome.message
    assert make_sender(settings(rsyslog_tls)).send(make_batch(1, first_seq=2)).ok
    assert [message.params["seq"] for message in rsyslog_tls.messages(1)] == ["2"]


def test_the_system_cas_do_not_trust_a_private_ca(rsyslog_tls, make_sender):
    outcome = make_sender(settings(rsyslog_tls, ca_certificate="")).send(make_batch(1))
    assert not outcome.ok and not outcome.retry
    assert "certificate" in outcome.message


def test_a_certificate_for_another_host_is_refused(make_sender):
    with Rsyslog(tls=True, names=("syslog.example",)) as receiver:
        outcome = make_sender(settings(receiver)).send(make_batch(1))
    assert not outcome.ok and not outcome.retry
    assert "127.0.0.1" in outcome.message and "certificate" in outcome.message


# Faults: retried, and nothing lost once the receiver is back.


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_receiver_that_is_down_is_retried_until_it_is_back(tls, make_sender):
    with Rsyslog(tls=tls) as receiver:
        sender = make_sender(settings(receiver))
        assert sender.send(make_batch(2)).ok
        receiver.messages(2)
        receiver.stop()
        batch = make_batch(2, first_seq=3)
        outcome = sender.send(batch)
        assert not outcome.ok and outcome.retry
        assert "refused the connection" in outcome.message
        receiver.start()
        receiver.forget()
        assert sender.send(batch).ok
        assert_received(receiver.messages(2), batch)


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_after_a_restart_the_next_batch_arrives_complete(tls, make_sender):
    """The kept connection is dead after the restart, though nothing said so: the next
    batch must go over a new one, all of it."""
    with Rsyslog(tls=tls) as receiver:
        sender = make_sender(settings(receiver))
        assert sender.send(make_batch(3)).ok
        receiver.messages(3)
        receiver.stop()
        receiver.start()
        receiver.forget()
        batch = mixed_batch(30, first_seq=4)
        assert sender.send(batch).ok
        assert_received(receiver.messages(30), batch)


@pytest.mark.parametrize(
    ("without", "arrives"),
    [
        ("the check before reuse", True),
        ("the wait for acknowledgement", True),
        ("both", False),  # the hazard the other cases guard against is real
    ],
)
def test_each_defence_alone_saves_a_batch_after_a_restart(
    without, arrives, monkeypatch, make_sender
):
    if without in ("the check before reuse", "both"):
        monkeypatch.setattr(kind_module, "still_open", lambda connection: True)
    if without in ("the wait for acknowledgement", "both"):
        monkeypatch.setattr(kind_module, "wait_acknowledged", lambda connection: None)
    with Rsyslog() as receiver:
        sender = make_sender(settings(receiver))
        assert sender.send(make_batch(3)).ok
        receiver.messages(3)
        receiver.stop()
        receiver.start()
        assert sender.send(make_batch(3, first_seq=4)).ok
        # One more batch marks the end: once it is there, so is all that came before it.
        assert sender.send(make_batch(1, first_seq=7)).ok
        seqs = [message.params["seq"] for message in receiver.messages(7 if arrives else 4)]
    assert seqs == (["1", "2", "3", "4", "5", "6", "7"] if arrives else ["1", "2", "3", "7"])


def test_bytes_the_receiver_never_acknowledges_fail_the_batch(
    rsyslog_tcp, monkeypatch, make_sender
):
    monkeypatch.setattr(kind_module, "TIMEOUT_SECONDS", 0.05)
    monkeypatch.setattr(kind_module, "unacknowledged", lambda connection: 42)
    outcome = make_sender(settings(rsyslog_tcp)).send(make_batch(1))
    assert not outcome.ok and outcome.retry
    assert "has not acknowledged 42 bytes" in outcome.message


def test_tls_to_a_server_without_tls_says_so(monkeypatch, make_sender):
    monkeypatch.setattr(kind_module, "TIMEOUT_SECONDS", 0.5)  # rsyslog waits for a line
    with Rsyslog() as receiver:  # its own: the handshake's bytes may end up as a message
        outcome = make_sender(settings(receiver, tls=True)).send(make_batch(1))
    assert not outcome.ok and outcome.retry
    assert "does the server speak TLS on this port?" in outcome.message


def test_a_host_that_does_not_resolve_is_retried(make_sender):
    outcome = make_sender(KIND.check({"host": "syslog.nowhere.invalid", "tls": False})).send(
        make_batch(1)
    )
    assert not outcome.ok and outcome.retry
    assert "did not resolve" in outcome.message


# The settings.


def test_the_kind_is_registered():
    kind = kind_named("syslog")
    assert (kind.label, kind.workos_type, kind.max_batch) == ("Syslog (RFC 5424)", "Syslog", 1000)
    assert kind.secret_label is None and not kind.generates_secret
    assert [setting.name for setting in kind.settings] == [
        "host",
        "port",
        "tls",
        "ca_certificate",
        "facility",
    ]


def test_check_fills_the_defaults():
    assert KIND.check({"host": " Logs.Example.COM. "}) == {
        "host": "logs.example.com",
        "port": None,
        "tls": True,
        "ca_certificate": "",
        "facility": "audit",
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"host": "[2001:db8::1]"}, {"host": "2001:db8::1"}),
        ({"host": "192.0.2.7", "port": "1514"}, {"host": "192.0.2.7", "port": 1514}),
        ({"host": "h.example", "port": " "}, {"port": None}),
        ({"host": "h.example", "tls": "off"}, {"tls": False}),
        ({"host": "h.example", "tls": False}, {"tls": False}),
        ({"host": "h.example", "facility": "13"}, {"facility": "audit"}),
        ({"host": "h.example", "facility": "LOCAL4"}, {"facility": "local4"}),
    ],
)
def test_check_normalises(given, expected):
    checked = KIND.check(given)
    assert {name: checked[name] for name in expected} == expected


def test_check_keeps_a_valid_ca_bundle():
    pem = Authority().pem + Authority("another CA").pem
    assert KIND.check({"host": "h.example", "ca_certificate": pem})["ca_certificate"] == pem


NOT_A_CERTIFICATE = (
    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----"
)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({}, "host"),
        ({"host": "  "}, "host"),
        ({"host": "logs.example.com:6514"}, "host"),
        ({"host": "tcp://logs.example.com"}, "host"),
        ({"host": "logs example.com"}, "host"),
        ({"host": "-logs.example.com"}, "host"),
        ({"host": "a" * 64 + ".example.com"}, "host"),
        ({"host": "h.example", "port": 0}, "port"),
        ({"host": "h.example", "port": "65536"}, "port"),
        ({"host": "h.example", "port": "-1"}, "port"),
        ({"host": "h.example", "port": "syslog"}, "port"),
        ({"host": "h.example", "port": True}, "port"),
        ({"host": "h.example", "tls": "maybe"}, "tls"),
        ({"host": "h.example", "ca_certificate": "not PEM at all"}, "ca_certificate"),
        ({"host": "h.example", "ca_certificate": NOT_A_CERTIFICATE}, "ca_certificate"),
        (
            {"host": "h.example", "ca_certificate": "-----BEGIN PRIVATE KEY-----\nx\n"},
            "ca_certificate",
        ),
        ({"host": "h.example", "facility": "24"}, "facility"),
        ({"host": "h.example", "facility": "security"}, "facility"),
    ],
)
def test_check_refuses(given, field):
    with pytest.raises(ServiceError) as caught:
        KIND.check(given)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("given", "described"),
    [
        ({"host": "logs.example.com"}, "syslog TLS logs.example.com:6514"),
        ({"host": "logs.example.com", "tls": False}, "syslog TCP (no TLS) logs.example.com:514"),
        ({"host": "2001:db8::1", "port": 1514}, "syslog TLS [2001:db8::1]:1514"),
    ],
)
def test_describe(given, described):
    assert KIND.describe(KIND.check(given)) == described
