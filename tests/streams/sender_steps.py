"""What the tests of the kinds that post over HTTP (test_splunk.py, test_datadog.py)
share: senders of a kind pointed at its loopback receiver (tests/streams/receivers/), the
steps that check what every such sender does with the receiver's answers and faults, and
the tests that are the same for every kind (``HttpSenderTests``). A step asserts what it
checks and returns the outcome, for the kind's test to check what is its own."""

from contextlib import closing

import pytest

from app.service_errors import ServiceError
from app.streams import kinds
from tests.streams.receivers.http import make_batch, make_destination, parsed


def ids(records):
    return [record["id"] for record in records]


def check_refuses(kind, settings, field, message):
    """The kind's ``check`` refuses ``settings``, blaming ``field``, saying ``message``."""
    with pytest.raises(ServiceError) as error:
        kind.check(settings)

    assert error.value.field == field
    assert message in error.value.message


class HttpSenders:
    """Senders of ``kind`` to a receiver: the setting ``url`` takes the receiver's
    address, ``settings`` are the others every sender gets, ``secret`` is the one the
    receiver accepts."""

    def __init__(self, kind, secret, url="url", **settings):
        self.kind = kind
        self.secret = secret
        self.url = url
        self.settings = settings

    def sender(self, secret=None, **settings):
        """A sender with these settings (closed at the end of the ``with``)."""
        settings = self.kind.check({**self.settings, **settings})
        secret = self.secret if secret is None else secret
        return closing(self.kind.sender(make_destination(settings, secret)))

    def sender_for(self, receiver, secret=None, **settings):
        """A sender to the receiver (closed at the end of the ``with``)."""
        return self.sender(secret, **{self.url: receiver.url, **settings})

    def send(self, receiver, batch, **settings):
        with self.sender_for(receiver, **settings) as sender:
            return sender.send(batch)

    def refused(self, receiver, answer):
        """The receiver's ``answer`` to a batch refuses it for good."""
        receiver.answers = [answer]

        outcome = self.send(receiver, make_batch(1))

        assert not outcome.ok and not outcome.retry
        return outcome

    def retried_then_delivered(self, receiver, answer, after):
        """The receiver's ``answer`` (``after``: its Retry-After) is worth another try,
        and the next try delivers the batch."""
        receiver.answers = [answer]
        batch = make_batch(2)

        with self.sender_for(receiver) as sender:
            outcome = sender.send(batch)
            assert not outcome.ok and outcome.retry
            assert outcome.after == after
            assert outcome.message.startswith(f"HTTP {answer[0]}: ")
            assert receiver.records == []

            assert sender.send(batch).ok
        assert receiver.records == parsed(batch)
        return outcome

    def sent_in_parts(self, receiver, batch, parts):
        """The batch is delivered in ``parts`` requests, each record once and in order."""
        outcome = self.send(receiver, batch)

        assert outcome.ok, outcome.message
        assert len(receiver.requests) == parts
        assert receiver.records == parsed(batch)  # each exactly once, in order
        assert outcome.message.startswith(f"request {parts} of {parts}: ")
        return outcome

    def second_part_refused_then_delivered(self, receiver, batch, answer):
        """The receiver's ``answer`` to the second part of a batch in several fails the
        batch; the next try delivers all of it. The first try's outcome."""
        receiver.answers = [None, answer]

        with self.sender_for(receiver) as sender:
            outcome = sender.send(batch)
            assert not outcome.ok and outcome.retry
            assert outcome.message.startswith("request 2 of ")
            assert len(receiver.requests) == 2  # nothing sent past the failure
            first = ids(receiver.records)
            assert first == ids(parsed(batch))[: len(first)]

            assert sender.send(batch).ok
        # At least once: the first part came twice; by id, every record once and in order.
        assert list(dict.fromkeys(ids(receiver.records))) == ids(parsed(batch))
        return outcome


class HttpSenderTests:
    """The tests every kind that posts over HTTP passes. A kind's test module subclasses
    this as a ``Test...`` class (which pytest collects), giving ``senders`` and
    ``redirect``, a redirect's status and location; the module has a ``receiver``
    fixture."""

    senders: HttpSenders
    redirect: tuple[int, str]

    def test_the_connection_is_kept_between_batches(self, receiver):
        with self.senders.sender_for(receiver) as sender:
            assert sender.send(make_batch(2)).ok
            assert sender.send(make_batch(2, first_seq=3)).ok

        assert receiver.requests[0].client == receiver.requests[1].client
        assert ids(receiver.records) == [f"evt_{seq:026d}" for seq in range(1, 5)]

    def test_a_redirect_is_refused_not_followed(self, receiver):
        status, location = self.redirect

        outcome = self.senders.refused(receiver, (status, "", {"Location": location}))

        assert f"redirects are not followed (to {location})" in outcome.message
        assert len(receiver.requests) == 1

    def test_a_destination_that_is_down_is_retried(self, receiver):
        batch = make_batch(2)
        with self.senders.sender_for(receiver) as sender:
            assert sender.send(make_batch(1, first_seq=100)).ok  # a kept-alive connection
            receiver.down = True

            outcome = sender.send(batch)
            assert not outcome.ok and outcome.retry
            assert outcome.message.startswith("ConnectError")  # refused: nothing listens

            receiver.down = False
            assert sender.send(batch).ok
        assert receiver.records[1:] == parsed(batch)

    def test_a_connection_closed_without_an_answer_is_retried(self, receiver):
        receiver.close_connections = True
        with self.senders.sender_for(receiver) as sender:
            outcome = sender.send(make_batch(1))
            assert not outcome.ok and outcome.retry
            assert outcome.message.startswith("RemoteProtocolError")

            receiver.close_connections = False
            assert sender.send(make_batch(1)).ok

    def test_a_destination_slower_than_the_timeout_is_retried(self, receiver, monkeypatch):
        monkeypatch.setattr(kinds, "TIMEOUT_SECONDS", 0.2)
        receiver.slow_seconds = 30  # cut short when the receiver stops

        outcome = self.senders.send(receiver, make_batch(1))

        assert not outcome.ok and outcome.retry
        assert outcome.message.startswith("ReadTimeout")
