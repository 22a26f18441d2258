"""The kinds of log stream: one module per destination, each speaking that destination's
own wire format (docs/streams.md).

A kind turns a ``Batch`` of records into its destination's request and reads the answer
as an ``Outcome``: delivered, try again (after a while), or a permanent refusal that
needs an admin. It never touches the database: the delivery loop
(app/streams/delivery.py) reads the batch, calls ``Sender.send`` and moves the cursor.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from app.service_errors import ServiceError
from app.timestamps import utcnow

# How long one request to a destination may take before it counts as failed (retried).
TIMEOUT_SECONDS = 15.0
# An error kept for the stream's page is cut to this many characters.
MAX_ERROR = 2000
MAX_URL = 2000


@dataclass(frozen=True)
class Record:
    """One event as a stream delivers it: ``line`` is the event as NDJSON exports write it
    (the event as accepted, plus ``id``, ``received_at``, ``organization_id``, ``seq``,
    ``prev_hash`` and ``hash``), without the line end."""

    id: str
    seq: int
    hash: str
    action: str
    received_at: datetime  # aware, UTC
    line: str


@dataclass(frozen=True)
class Batch:
    """Consecutive records of one stream (``test``: one made-up record, no cursor)."""

    stream_id: str
    organization_id: str
    records: list[Record]
    test: bool = False

    @property
    def first_seq(self):
        return self.records[0].seq

    @property
    def last_seq(self):
        return self.records[-1].seq

    @property
    def key(self):
        """The batch's identity, the same on every retry of it: ``<stream>_<first>_<last>``
        (a test batch: ``<stream>_test_<record id>``)."""
        if self.test:
            return f"{self.stream_id}_test_{self.records[0].id}"
        return f"{self.stream_id}_{self.first_seq}_{self.last_seq}"


@dataclass(frozen=True)
class Outcome:
    """What became of a batch. ``ok``: delivered (the cursor may move). Otherwise
    ``retry`` says whether trying again may help; ``after`` is the destination's
    ``Retry-After`` in seconds, if it gave one; ``message`` is the destination's answer."""

    ok: bool
    message: str = ""
    retry: bool = False
    after: float | None = None

    @classmethod
    def delivered(cls, message="delivered"):
        return cls(True, message[:MAX_ERROR])

    @classmethod
    def again(cls, message, after=None):
        return cls(False, message[:MAX_ERROR], retry=True, after=after)

    @classmethod
    def refused(cls, message):
        return cls(False, message[:MAX_ERROR], retry=False)


@dataclass(frozen=True)
class Setting:
    """One setting of a kind, as the dashboard's form and the CLI offer it. ``type`` is
    ``text``, ``url``, ``textarea``, ``choice`` (from ``choices``: (value, label) pairs),
    ``bool`` or ``int``; ``default`` fills a new stream's form."""

    name: str
    label: str
    type: str = "text"
    required: bool = False
    choices: tuple = ()
    default: object = None
    help: str = ""


@dataclass(frozen=True)
class Destination:
    """A stream's configuration as its sender needs it: ``settings`` (checked by the kind's
    ``check``) and the decrypted ``secret`` (``None`` for kinds without one)."""

    stream_id: str
    organization_id: str
    settings: dict
    secret: str | None = None


class Sender(Protocol):
    """Delivers batches to one destination, keeping its connection between batches."""

    def send(self, batch: Batch) -> Outcome: ...

    def close(self) -> None: ...


class Kind(Protocol):
    """A kind of destination."""

    name: str  # stored in log_streams.kind: "webhook", "splunk", ...
    label: str  # what the dashboard calls it
    workos_type: str  # what the configuration endpoint calls it ("GenericHttps", ...)
    max_batch: int  # events per request, at most
    secret_label: str | None  # what the secret is called ("Signing secret"), None: no secret
    generates_secret: bool  # True: we make the secret (webhook); False: the admin gives it
    settings: tuple[Setting, ...]  # what the form asks for, besides the secret

    def check(self, settings: dict) -> dict:
        """The settings, normalised; ``ServiceError(field=...)`` for one that is wrong."""

    def describe(self, settings: dict) -> str:
        """Where the stream delivers, in a few words (the list of streams shows it)."""

    def sender(self, destination: Destination) -> Sender: ...


def invalid(field_name, message):
    """A setting that is wrong, as the forms and the CLI report it."""
    return ServiceError(message, field=field_name)


def check_url(settings, name="url", paths=True):
    """An ``http(s)://host[:port]/path`` URL from the settings, stripped; a clear error for
    anything else (credentials in the URL are refused: they would show on the page)."""
    url = (settings.get(name) or "").strip()
    if not url:
        raise invalid(name, "Enter the URL to deliver to.")
    if len(url) > MAX_URL:
        raise invalid(name, f"The URL is longer than {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise invalid(name, "The URL is not valid.") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise invalid(name, "Enter a URL starting with https:// (or http://) and a host name.")
    if parts.username or parts.password:
        raise invalid(name, "Leave credentials out of the URL; enter them as the stream's secret.")
    if not paths and parts.path not in ("", "/"):
        raise invalid(name, "Enter the server's address only, without a path.")
    return url


def retry_after(value):
    """An HTTP ``Retry-After`` in seconds (delta-seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())


def http_outcome(response, retried=(408, 429, 500, 502, 503, 504), permanent_5xx=()):
    """The usual reading of an HTTP answer: 2xx delivered; ``retried`` statuses (and any
    other 5xx) again, honouring ``Retry-After``; anything else refused."""
    status = response.status_code
    answer = f"HTTP {status}: {response.text[:MAX_ERROR]}".strip()
    if 200 <= status < 300:
        return Outcome.delivered(f"HTTP {status}")
    if status in retried or (status >= 500 and status not in permanent_5xx):
        return Outcome.again(answer, retry_after(response.headers.get("Retry-After")))
    return Outcome.refused(answer)


def split(pieces, max_bytes, max_count=None, separator=1, framing=0):
    """Consecutive runs of ``pieces`` (bytes), in order, each at most ``max_count``
    pieces and ``max_bytes`` once joined (``separator`` bytes between pieces, ``framing``
    around them). A piece too large on its own gets a run of its own: it is still sent,
    for the destination to take or refuse, because a stream skips nothing."""
    run, size = [], framing
    for piece in pieces:
        grown = size + len(piece) + (separator if run else 0)
        if run and (grown > max_bytes or len(run) == max_count):
            yield run
            run, grown = [], framing + len(piece)
        run.append(piece)
        size = grown
    if run:
        yield run


def redirect_refusal(response):
    """A redirect, refused: it is not followed, so trying again gives the same answer."""
    return Outcome.refused(
        f"HTTP {response.status_code}: redirects are not followed "
        f"(to {response.headers.get('location', '?')}); update the stream's URL."
    )


class HttpSender:
    """What the senders that post over HTTP share: one kept-alive connection, a request
    that fails on the way (refused, timed out, cut short) tried again, a redirect refused
    rather than followed."""

    def __init__(self, url):
        self.url = url
        self.client = httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)

    def post(self, body, headers, outcome_of):
        """One request to ``url``; its answer read by ``outcome_of`` (a redirect aside)."""
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return Outcome.again(f"{type(error).__name__}: {error}")
        if response.is_redirect:
            return redirect_refusal(response)
        return outcome_of(response)

    def post_all(self, bodies, headers, outcome_of):
        """Post the bodies in order, stopping at the first that fails: the batch is delivered
        only if every part is (a part delivered twice is deduplicated by the records' ids)."""
        bodies = list(bodies)
        outcome = Outcome.delivered("nothing to send")
        for number, body in enumerate(bodies, 1):
            outcome = self.post(body, headers, outcome_of)
            if len(bodies) > 1:
                prefix = f"request {number} of {len(bodies)}: "
                outcome = replace(outcome, message=(prefix + outcome.message)[:MAX_ERROR])
            if not outcome.ok:
                return outcome
        return outcome

    def close(self):
        self.client.close()


KINDS: dict[str, Kind] = {}


def register(kind):
    """Make a kind available (each kind module registers itself; see ``all_kinds``)."""
    KINDS[kind.name] = kind
    return kind


def all_kinds():
    """Every kind, by name, in the order the dashboard offers them."""
    # Each module registers its kind when imported.
    from app.streams.kinds import datadog, s3, splunk, syslog, webhook  # noqa: F401

    return KINDS


def kind_named(name):
    """The kind called ``name``; ``ServiceError`` if there is none."""
    kinds = all_kinds()
    if name not in kinds:
        raise invalid("kind", f"Choose one of the kinds: {', '.join(kinds)}.")
    return kinds[name]
