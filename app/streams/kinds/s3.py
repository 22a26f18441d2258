"""S3-compatible object storage: one gzip'd NDJSON object per batch, written with boto3
to AWS S3 or to any store that speaks its API (MinIO, Cloudflare R2, Ceph, ...).

``PUT <prefix>/<org id>/<YYYY>/<MM>/<DD>/<first seq>-<last seq>.ndjson.gz`` (both seqs
zero-padded to 20 digits, so keys sort in ``seq`` order; the date is the first record's
``received_at``, UTC), with ``Content-Type: application/x-ndjson``, ``Content-Encoding:
gzip`` and ``If-None-Match: *``. A repeated batch has the same key and the same bytes, so
the store answers 412 and the repeat counts as delivered; a store that ignores the
condition overwrites the object with identical content (docs/streams.md).
"""

import gzip
import ipaddress
import re
from datetime import UTC
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from app.streams.kinds import (
    TIMEOUT_SECONDS,
    Outcome,
    Setting,
    check_url,
    invalid,
    register,
    retry_after,
)

DEFAULT_PREFIX = "auditlog"
DEFAULT_REGION = "us-east-1"
ADDRESSING_STYLES = (
    ("auto", "Automatic (path-style with an endpoint URL, virtual-hosted on AWS)"),
    ("path", "Path-style (https://endpoint/bucket/key)"),
    ("virtual", "Virtual-hosted-style (https://bucket.endpoint/key)"),
)
# botocore tries twice, the second time within a second: a kept-alive connection that the
# store closed while the stream was idle costs no failure on the stream's page. Anything
# longer is left to the delivery loop, whose backoff honours Retry-After and counts.
ATTEMPTS = 2
# The current rules for general purpose buckets (AWS's "Bucket naming rules"; MinIO and
# R2 keep to a subset): 3-63 lowercase letters, digits, dots and hyphens, a letter or
# digit at each end, no "..", not an IP address, none of the reserved affixes.
BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# Object keys may hold any UTF-8, but AWS names these characters safe in every tool and
# URL; a segment is never empty, "." or ".." (some stores and clients normalise paths).
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*")
MAX_PREFIX = 512  # keys take 1,024 bytes; ours add about 110 to the prefix
# botocore's own check of a region name (a store such as R2 uses "auto").
REGION_PATTERN = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
ACCESS_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces
# Error codes worth another try whatever their status: the store is busy, a concurrent
# conditional write won the race (409), the request was slow or cut short on the way,
# or a clock is off (fixed by NTP, not by an admin).
RETRIED_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "ConditionalRequestConflict",
        "OperationAborted",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "RequestTimeTooSkewed",
        "IncompleteBody",
        "XAmzContentSHA256Mismatch",
    }
)
RETRIED_STATUSES = frozenset({307, 408, 409, 429})
# A 501 NotImplemented says the store will never take this request (say, a store that
# refuses If-None-Match); trying again cannot help.
PERMANENT_5XX = frozenset({501})


def check_bucket(settings):
    """The bucket's name, if S3's naming rules allow it."""
    bucket = (settings.get("bucket") or "").strip()
    if not bucket:
        raise invalid("bucket", "Enter the bucket's name.")
    if not BUCKET_PATTERN.fullmatch(bucket):
        raise invalid(
            "bucket",
            "A bucket name is 3 to 63 lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or a digit.",
        )
    if ".." in bucket:
        raise invalid("bucket", "A bucket name has no two dots in a row.")
    if is_ip_address(bucket):
        raise invalid("bucket", "A bucket name is not an IP address.")
    if bucket.startswith(BUCKET_RESERVED_PREFIXES) or bucket.endswith(BUCKET_RESERVED_SUFFIXES):
        raise invalid("bucket", "That bucket name uses a prefix or suffix S3 reserves.")
    return bucket


def is_ip_address(name):
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def check_prefix(settings):
    """The key prefix, without slashes at its ends: ``auditlog`` when the setting is not
    given at all (the CLI gives only what is typed), none when it is given blank."""
    prefix = settings.get("prefix")
    prefix = DEFAULT_PREFIX if prefix is None else prefix.strip().strip("/")
    if not prefix:
        return ""
    if len(prefix) > MAX_PREFIX:
        raise invalid("prefix", f"The prefix is longer than {MAX_PREFIX} characters.")
    if not PREFIX_PATTERN.fullmatch(prefix) or any(
        part in (".", "..") for part in prefix.split("/")
    ):
        raise invalid(
            "prefix",
            "Use letters, digits and ! _ . * ' ( ) - in the prefix, with single slashes "
            "between its parts.",
        )
    return prefix


def check_region(settings):
    region = (settings.get("region") or "").strip() or DEFAULT_REGION
    if not REGION_PATTERN.fullmatch(region):
        raise invalid("region", "Enter a region name such as us-east-1 (R2 uses auto).")
    return region


def check_endpoint(settings):
    """The store's address, or "" for AWS itself (boto3 finds the regional endpoint)."""
    if not (settings.get("endpoint_url") or "").strip():
        return ""
    # Without a path: a bucket's URL pasted here would put the bucket in every key.
    return check_url(settings, "endpoint_url", paths=False).rstrip("/")


def check_addressing_style(settings):
    style = (settings.get("addressing_style") or "").strip() or "auto"
    if style not in dict(ADDRESSING_STYLES):
        raise invalid("addressing_style", "Choose auto, path or virtual addressing.")
    return style


def check_access_key_id(settings):
    key_id = (settings.get("access_key_id") or "").strip()
    if not key_id:
        raise invalid("access_key_id", "Enter the access key ID.")
    if not ACCESS_KEY_PATTERN.fullmatch(key_id):
        raise invalid("access_key_id", "An access key ID is up to 128 characters, without spaces.")
    return key_id


def key_of(prefix, batch):
    """The object's key: the same for every retry of the batch, sorting in ``seq`` order."""
    head = f"{prefix}/{batch.organization_id}" if prefix else batch.organization_id
    if batch.test:
        return f"{head}/test/{batch.records[0].id}.ndjson.gz"
    day = batch.records[0].received_at.astimezone(UTC).strftime("%Y/%m/%d")
    return f"{head}/{day}/{batch.first_seq:020d}-{batch.last_seq:020d}.ndjson.gz"


def body_of(batch):
    """The object's bytes: one record per line, gzip'd with no timestamp in the header, so
    that a repeated batch is byte for byte the object already stored."""
    lines = "".join(record.line + "\n" for record in batch.records)
    return gzip.compress(lines.encode(), compresslevel=6, mtime=0)


def addressing_of(settings):
    """botocore's addressing style: ``auto`` is path-style with an endpoint URL (most
    compatible stores take only that) and virtual-hosted on AWS, as AWS asks."""
    style = settings.get("addressing_style") or "auto"
    if style == "auto":
        return "path" if settings.get("endpoint_url") else "virtual"
    return style


def client_config(settings):
    return Config(
        connect_timeout=TIMEOUT_SECONDS,
        read_timeout=TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        s3={"addressing_style": addressing_of(settings)},
        # Stores other than AWS may not know the newer CRC checksums; PutObject needs none.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Only the stream's settings say where its events go, never AWS_ENDPOINT_URL or a
        # profile's endpoint_url in the server's environment.
        ignore_configured_endpoint_urls=True,
        user_agent_appid="auditlog-streams",
    )


def client_error_outcome(error, where):
    """A store's error answer: busy or transient codes (and 5xx) again, anything else
    (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, NoSuchBucket, ...) refused."""
    response = error.response
    code = response.get("Error", {}).get("Code") or "?"
    text = response.get("Error", {}).get("Message") or ""
    metadata = response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode") or 0
    answer = f"{code} (HTTP {status}) writing {where}: {text}".strip()
    if (
        code in RETRIED_CODES
        or status in RETRIED_STATUSES
        or (status >= 500 and status not in PERMANENT_5XX)
    ):
        return Outcome.again(
            answer, retry_after(metadata.get("HTTPHeaders", {}).get("retry-after"))
        )
    return Outcome.refused(answer)


def precondition_failed(error):
    """Whether the store refused the write because the key exists (If-None-Match)."""
    response = error.response
    return (
        response.get("Error", {}).get("Code") == "PreconditionFailed"
        or response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412
    )


class S3Sender:
    """Writes batches as objects through one boto3 client (its connection pool is kept)."""

    def __init__(self, destination):
        settings = destination.settings
        self.bucket = settings["bucket"]
        self.prefix = settings.get("prefix", DEFAULT_PREFIX)
        # A session of its own: boto3's default session is not safe to share across the
        # job runner's threads, and the stream's credentials belong to this client only.
        session = boto3.session.Session(
            aws_access_key_id=settings["access_key_id"],
            aws_secret_access_key=destination.secret,
            region_name=settings.get("region") or DEFAULT_REGION,
        )
        self.client = session.client(
            "s3", endpoint_url=settings.get("endpoint_url") or None, config=client_config(settings)
        )

    def send(self, batch):
        key = key_of(self.prefix, batch)
        where = f"s3://{self.bucket}/{key}"
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body_of(batch),
                ContentType="application/x-ndjson",
                ContentEncoding="gzip",
                IfNoneMatch="*",
            )
        except ClientError as error:
            if precondition_failed(error):
                # The object exists: this batch was stored before (its answer was lost).
                return Outcome.delivered(f"already stored: {where}")
            return client_error_outcome(error, where)
        except (BotoConnectionError, HTTPClientError) as error:
            # Refused, timed out or cut short: EndpointConnectionError, ConnectTimeoutError,
            # ReadTimeoutError, ConnectionClosedError, SSLError, ...
            return Outcome.again(f"{type(error).__name__}: {error}")
        except BotoCoreError as error:
            # botocore refused to build the request (a setting it does not take): trying
            # again sends the same request, so an admin has to look.
            return Outcome.refused(f"{type(error).__name__}: {error}")
        return Outcome.delivered(f"stored {where}")

    def close(self):
        self.client.close()


class S3Kind:
    name = "s3"
    label = "S3-compatible storage"
    workos_type = "S3"
    max_batch = 1000
    secret_label = "Secret access key"  # noqa: S105  (a label, not a secret)
    generates_secret = False
    settings = (
        Setting("bucket", "Bucket", required=True, help="The bucket must exist already."),
        Setting(
            "prefix",
            "Key prefix",
            default=DEFAULT_PREFIX,
            help="Objects are written under <prefix>/<organization id>/<YYYY>/<MM>/<DD>/; "
            "leave it blank to start at the organization id.",
        ),
        Setting("region", "Region", default=DEFAULT_REGION),
        Setting(
            "endpoint_url",
            "Endpoint URL",
            "url",
            help="For MinIO, Cloudflare R2 and other S3-compatible stores; "
            "leave it blank for AWS S3.",
        ),
        Setting(
            "addressing_style",
            "Addressing style",
            "choice",
            choices=ADDRESSING_STYLES,
            default="auto",
        ),
        Setting(
            "access_key_id",
            "Access key ID",
            required=True,
            help="Of a key that may s3:PutObject in the bucket, under the prefix.",
        ),
    )

    def check(self, settings):
        return {
            "bucket": check_bucket(settings),
            "prefix": check_prefix(settings),
            "region": check_region(settings),
            "endpoint_url": check_endpoint(settings),
            "addressing_style": check_addressing_style(settings),
            "access_key_id": check_access_key_id(settings),
        }

    def describe(self, settings):
        where = f"s3://{settings['bucket']}/{settings.get('prefix') or ''}".rstrip("/")
        if settings.get("endpoint_url"):
            return f"{where} at {urlsplit(settings['endpoint_url']).netloc}"
        return f"{where} ({settings.get('region') or DEFAULT_REGION})"

    def sender(self, destination):
        return S3Sender(destination)


register(S3Kind())
