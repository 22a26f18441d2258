"""Datadog logs intake (API v2): each event one log entry, gzip'd JSON arrays posted with
the organization's API key to the intake of its Datadog site.

``POST https://http-intake.logs.<site>/api/v2/logs`` with ``DD-API-KEY``; the body is a
gzip'd JSON array of ``{"ddsource": "auditlog", "service", "hostname", "ddtags":
"organization:<id>,action:<action>[,<tags>]", "message": <the record's JSON text>}``.
Datadog parses a message that is JSON into the log's attributes (docs/streams.md).
"""

import gzip
import re
import socket

import orjson

from app.streams.kinds import HttpSender, Setting, check_url, http_outcome, invalid, register, split

PATH = "/api/v2/logs"
SOURCE = "auditlog"
DEFAULT_SERVICE = "auditlog"
SITES = (
    ("datadoghq.com", "US1 (app.datadoghq.com)"),
    ("us3.datadoghq.com", "US3 (us3.datadoghq.com)"),
    ("us5.datadoghq.com", "US5 (us5.datadoghq.com)"),
    ("datadoghq.eu", "EU1 (app.datadoghq.eu)"),
    ("ap1.datadoghq.com", "AP1 (ap1.datadoghq.com)"),
    ("ap2.datadoghq.com", "AP2 (ap2.datadoghq.com)"),
    ("uk1.datadoghq.com", "UK1 (uk1.datadoghq.com)"),
    ("ddog-gov.com", "US1-FED (app.ddog-gov.com)"),
    ("us2.ddog-gov.com", "US2-FED (us2.ddog-gov.com)"),
)
SITE_NAMES = tuple(site for site, _label in SITES)
# The intake's limits per request are 1,000 entries and 5 MB uncompressed; 4 MB leaves
# room whichever megabyte Datadog counts in.
MAX_ENTRIES = 1000
MAX_BODY = 4_000_000
# Datadog truncates a log past 1 MB, which would cut the record's JSON mid-way.
MAX_ENTRY = 1_000_000
TRUNCATED = "too large for Datadog"
# Datadog's rules for tags and service names: they start with a letter, and Datadog
# lowercases them (so do we) and turns other characters into "_", which would quietly
# change the value a customer's filters look for, so those are refused instead.
SERVICE_PATTERN = re.compile(r"[a-z][a-z0-9_.:/-]{0,99}")
TAG_PATTERN = re.compile(r"[a-z][a-z0-9_./-]*:[a-z0-9_.:/-]+")
MAX_TAG = 200
MAX_TAGS_TEXT = 1000
# Tag keys Datadog reserves (host, device, source, service) and the two the stream sets.
RESERVED_TAGS = ("host", "device", "source", "service", "organization", "action")


def intake_url(settings):
    """Where the stream posts: the site's intake, or the configured override."""
    base = settings.get("intake_url") or f"https://http-intake.logs.{settings['site']}"
    return base.rstrip("/") + PATH


def stub(record):
    """What stands in for a record too large for Datadog: enough to find it in the log
    (and in the other kinds' copies), and to see that the chain has no gap."""
    return orjson.dumps(
        {
            "id": record.id,
            "seq": record.seq,
            "hash": record.hash,
            "action": record.action,
            "truncated": TRUNCATED,
        }
    ).decode()


class DatadogSender(HttpSender):
    """Posts batches to one Datadog intake over a kept-alive connection."""

    def __init__(self, destination, host=None):
        settings = destination.settings
        super().__init__(intake_url(settings))
        self.headers = {
            "dd-api-key": destination.secret,
            "content-type": "application/json",
            "content-encoding": "gzip",
            "user-agent": "auditlog-streams",
        }
        self.common = {
            "ddsource": SOURCE,
            "service": settings.get("service") or DEFAULT_SERVICE,
            "hostname": host or socket.gethostname(),
        }
        self.tags = settings.get("tags") or ""

    def entry(self, organization_id, record):
        """One log entry's JSON; a stub in place of a record Datadog would truncate."""
        tags = f"organization:{organization_id},action:{record.action}"
        entry = self.common | {
            "ddtags": f"{tags},{self.tags}" if self.tags else tags,
            "message": record.line,
        }
        data = orjson.dumps(entry)
        if len(data) > MAX_ENTRY:
            data = orjson.dumps(entry | {"message": stub(record)})
        return data

    def send(self, batch):
        entries = [self.entry(batch.organization_id, record) for record in batch.records]
        runs = split(entries, MAX_BODY, MAX_ENTRIES, separator=1, framing=2)
        # Level 6, zlib's default: 9 costs several times the CPU for a few percent less.
        bodies = (gzip.compress(b"[%b]" % b",".join(run), compresslevel=6) for run in runs)
        # 202 is delivered; 408, 429 and 5xx are retried (Retry-After honoured); 400, 401,
        # 403 and 413 (the payload or the key is wrong) are refused.
        return self.post_all(bodies, self.headers, http_outcome)


def check_site(settings):
    """One of Datadog's sites; its app's address (``app.datadoghq.eu``) is taken too."""
    site = (settings.get("site") or SITE_NAMES[0]).strip().lower().removeprefix("app.")
    if site not in SITE_NAMES:
        raise invalid("site", f"Choose one of the Datadog sites: {', '.join(SITE_NAMES)}.")
    return site


def check_service(settings):
    service = (settings.get("service") or "").strip().lower() or DEFAULT_SERVICE
    if not SERVICE_PATTERN.fullmatch(service):
        raise invalid(
            "service",
            "Use a service name of up to 100 letters, digits and _ . : / -, "
            "starting with a letter (for example auditlog).",
        )
    return service


def check_tags(settings):
    """The extra tags, comma separated ``key:value`` pairs, as Datadog would keep them."""
    text = (settings.get("tags") or "").strip().lower()
    if len(text) > MAX_TAGS_TEXT:
        raise invalid("tags", f"The tags are longer than {MAX_TAGS_TEXT} characters.")
    tags = [tag.strip() for tag in text.split(",") if tag.strip()]
    for tag in tags:
        if len(tag) > MAX_TAG:
            raise invalid("tags", f"The tag {tag[:40]}... is longer than {MAX_TAG} characters.")
        if not TAG_PATTERN.fullmatch(tag):
            raise invalid(
                "tags",
                f"The tag {tag} is not key:value in letters, digits and "
                "_ . : / -, starting with a letter (for example env:prod).",
            )
        key = tag.split(":", 1)[0]
        if key in RESERVED_TAGS:
            raise invalid("tags", f"The tag key {key} is set by the stream; choose another.")
    return ",".join(tags)


def check_intake_url(settings):
    """The override of the intake's base URL (a proxy's), or ``""`` for the site's."""
    if not (settings.get("intake_url") or "").strip():
        return ""
    url = check_url(settings, "intake_url").rstrip("/")
    if url.endswith(PATH):
        raise invalid("intake_url", f"Enter the base URL only; the stream adds {PATH}.")
    return url


class DatadogKind:
    name = "datadog"
    label = "Datadog"
    workos_type = "Datadog"
    max_batch = 1000
    secret_label = "API key"  # noqa: S105  (a label, not a secret)
    generates_secret = False
    settings = (
        Setting(
            "site",
            "Datadog site",
            "choice",
            required=True,
            choices=SITES,
            default=SITE_NAMES[0],
            help="The site your Datadog organization is on (its address in the browser).",
        ),
        Setting("service", "Service", default=DEFAULT_SERVICE),
        Setting(
            "tags",
            "Extra tags",
            help="Comma separated key:value pairs, such as env:prod,team:security; "
            "organization and action are always set.",
        ),
        Setting(
            "intake_url",
            "Intake URL",
            "url",
            help="Leave empty to use the site's intake; set it to send through a proxy.",
        ),
    )

    def check(self, settings):
        return {
            "site": check_site(settings),
            "service": check_service(settings),
            "tags": check_tags(settings),
            "intake_url": check_intake_url(settings),
        }

    def describe(self, settings):
        where = settings.get("intake_url") or f"Datadog {settings['site']}"
        return f"{where}, service {settings.get('service') or DEFAULT_SERVICE}"

    def sender(self, destination):
        return DatadogSender(destination)


register(DatadogKind())
