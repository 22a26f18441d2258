"""A local S3 for the S3 stream's tests: moto's server on 127.0.0.1 (a free port), behind a
loopback proxy that can play the store's faults.

    with LocalS3() as s3:
        s3.create_bucket("audit")
        ... deliver to s3.endpoint_url ...
        assert s3.objects("audit") == [(key, [record, ...]), ...]

The sender under test talks to ``endpoint_url``, the proxy; the helpers here (
``create_bucket``, ``objects``, ``get``) talk to moto itself (``direct_url``), so they
keep working while the proxy plays a fault. The faults are the proxy's (an
``HttpReceiver``, tests/streams/receivers/http.py):

- ``fail(count, status=503, code="SlowDown")``: the next ``count`` requests get that S3
  error answer and never reach moto (nothing is stored);
- ``answers``: canned answers, one per request before moto's (``None`` lets one through);
- ``down = True``: connections are refused (``False`` listens again, on the same port);
- ``close_connections = True``: each request is read, then its connection closed unanswered;
- ``slow_seconds``: the request reaches moto (the object is stored), the answer waits.

``requests`` lists what the proxy read (method, path, headers, body), faults included.
``require_signatures()`` makes moto check every request's signature from then on.

moto keeps its stores in the process, not in the server: ``LocalS3`` empties them when it
starts, stops and ``reset()``s (a fresh store for the next test without the second it
takes to stop and start the servers), so only one may run at a time.
"""

import gzip
import http.client
import json
import urllib.request
from dataclasses import dataclass

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.streams.receivers.http import Answer, HttpReceiver, Request, answer_of

REGION = "us-east-1"
# moto takes any key while it does not check signatures.
DEFAULT_CREDENTIALS = ("testing", "testing")
# Headers of one connection, not of the request: the proxy's own connections carry theirs.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",  # the proxy answered the 100-continue itself
    }
)
# Set by the proxy's own answer (Content-Length from the body it sends).
ANSWER_OWN = frozenset({"content-length", "date", "server"})
POLICY_ALLOWING_S3 = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)


def s3_error(status, code, message="", retry_after=None, request_id="LOCALS3"):
    """An S3 error answer, as S3 writes them (an XML ``<Error>``)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    )
    headers = {"Content-Type": "application/xml"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Answer(status, body, headers)


@dataclass(frozen=True)
class StoredObject:
    """One object as moto keeps it: ``body`` is the bytes as stored (still gzip'd)."""

    key: str
    body: bytes
    content_type: str | None
    content_encoding: str | None
    etag: str

    @property
    def text(self):
        return gzip.decompress(self.body).decode()

    @property
    def records(self):
        """Each NDJSON line, parsed."""
        return [json.loads(line) for line in self.text.splitlines()]


class S3Proxy(HttpReceiver):
    """Passes each request to moto as it came (the Host header the client signed
    included), unless a fault is set up (``HttpReceiver``'s knobs)."""

    def __init__(self, upstream_port):
        super().__init__(check=None)
        self.upstream_port = upstream_port

    def serve(self, handler):
        body = handler.read_body()
        request = Request(
            method=handler.command,
            path=handler.path,  # with its query, as S3 needs it
            query={},
            headers=handler.headers,
            body=body,
            client=handler.client_address,
        )
        with self.lock:
            self.requests.append(request)
            canned = self.answers.pop(0) if self.answers else None
        if self.close_connections:
            handler.close_connection = True
            return
        answer = answer_of(canned) if canned is not None else self.forward(handler, body)
        if self.slow_seconds and self.stopping.wait(self.slow_seconds):
            handler.close_connection = True
            return
        handler.send(answer)

    def forward(self, handler, body):
        """moto's answer to the request. (A HEAD's Content-Length is lost on the way back:
        the proxy sends the length of the body it has, none; the helpers do not use it.)"""
        headers = {
            name: value for name, value in handler.headers.items() if name.lower() not in HOP_BY_HOP
        }
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        kept = {
            name: value
            for name, value in response.getheaders()
            if name.lower() not in HOP_BY_HOP | ANSWER_OWN
        }
        return Answer(response.status, data, kept)


class LocalS3:
    """moto's S3 behind ``S3Proxy``; see the module's docstring."""

    def __init__(self):
        self.server = None
        self.proxy = None
        self.client = None
        self.direct_url = None
        self.credentials = DEFAULT_CREDENTIALS
        self.no_auth_count = None  # moto's setting before require_signatures(), to restore

    @property
    def endpoint_url(self):
        """Where the sender under test writes: the proxy, ``http://127.0.0.1:<port>``."""
        return self.proxy.url

    def start(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.direct_url = f"http://{host}:{port}"
        self.moto_api("reset")
        self.proxy = S3Proxy(port).start()
        self.client = self.client_for(*self.credentials)
        return self

    def reset(self):
        """A fresh store again, for the next test: moto emptied, signatures unchecked, no
        fault set up, no request noted."""
        if self.no_auth_count is not None:
            self.moto_api("reset-auth", self.no_auth_count)
            self.no_auth_count = None
        self.moto_api("reset")
        self.proxy.down = False
        with self.proxy.lock:
            self.proxy.answers.clear()
            self.proxy.requests.clear()
            self.proxy.errors.clear()
        self.proxy.close_connections = False
        self.proxy.slow_seconds = 0.0
        self.credentials = DEFAULT_CREDENTIALS
        self.client.close()
        self.client = self.client_for(*self.credentials)

    def stop(self):
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.server is not None:
            if self.no_auth_count is not None:
                self.moto_api("reset-auth", self.no_auth_count)
                self.no_auth_count = None
            self.moto_api("reset")
            self.server.stop()
            # stop() shuts the server down but leaves its socket open (a ResourceWarning).
            self.server._server.server_close()
            self.server = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info):
        self.stop()

    def moto_api(self, action, data=""):
        """POST to moto's own API (``/moto-api/reset``, ``/moto-api/reset-auth``)."""
        request = urllib.request.Request(
            f"{self.direct_url}/moto-api/{action}",
            data=str(data).encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},  # a form type would eat the body
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def client_for(self, access_key_id, secret_access_key):
        """A boto3 client straight to moto."""
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=REGION,
        )
        return session.client(
            "s3",
            endpoint_url=self.direct_url,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "total_max_attempts": 1},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def require_signatures(self):
        """From now on moto checks each request's signature and the key's permissions, as
        S3 does; returns a key, ``(access key id, secret access key)``, that may do
        anything in S3 (an IAM user with an ``s3:*`` policy)."""
        session = boto3.session.Session(
            aws_access_key_id=self.credentials[0],
            aws_secret_access_key=self.credentials[1],
            region_name=REGION,
        )
        iam = session.client("iam", endpoint_url=self.direct_url)
        try:
            iam.create_user(UserName="streams")
            iam.put_user_policy(
                UserName="streams", PolicyName="s3", PolicyDocument=POLICY_ALLOWING_S3
            )
            key = iam.create_access_key(UserName="streams")["AccessKey"]
        finally:
            iam.close()
        answer = self.moto_api("reset-auth", 0)
        if self.no_auth_count is None:
            self.no_auth_count = answer["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
        self.credentials = (key["AccessKeyId"], key["SecretAccessKey"])
        self.client.close()
        self.client = self.client_for(*self.credentials)
        return self.credentials

    # The proxy's faults.

    def fail(
        self,
        count=1,
        status=503,
        code="SlowDown",
        message="Please reduce your request rate.",
        retry_after=None,
    ):
        """Answer the next ``count`` requests with this S3 error (moto never sees them)."""
        self.proxy.answers.extend([s3_error(status, code, message, retry_after)] * count)

    @property
    def down(self):
        return self.proxy.down

    @down.setter
    def down(self, value):
        self.proxy.down = value

    @property
    def close_connections(self):
        return self.proxy.close_connections

    @close_connections.setter
    def close_connections(self, value):
        self.proxy.close_connections = value

    @property
    def slow_seconds(self):
        return self.proxy.slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value):
        self.proxy.slow_seconds = value

    @property
    def requests(self):
        return self.proxy.requests

    # What moto holds.

    def create_bucket(self, name):
        self.client.create_bucket(Bucket=name)
        return name

    def get(self, bucket, key):
        """One object, as stored."""
        answer = self.client.get_object(Bucket=bucket, Key=key)
        with answer["Body"] as body:
            data = body.read()
        return StoredObject(
            key=key,
            body=data,
            content_type=answer.get("ContentType"),
            content_encoding=answer.get("ContentEncoding"),
            etag=answer["ETag"],
        )

    def keys(self, bucket, prefix=""):
        """The keys under ``prefix``, in S3's (byte) order."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", ())]

    def objects(self, bucket, prefix=""):
        """Every object under ``prefix`` in key order: ``[(key, [record, ...]), ...]``, each
        object gunzip'd and its NDJSON lines parsed."""
        return [(key, self.get(bucket, key).records) for key in self.keys(bucket, prefix)]
