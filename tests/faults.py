"""moto's server for tests and benchmarks: counts every AWS call, and adds latency or faults.

Kept out of the package: `vpc-audit demo` needs only auditor.demo.MotoServer, which this extends.
"""

from __future__ import annotations

import io
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from xml.sax.saxutils import escape as xml_escape

from auditor.collect.sessions import IAM_PREFIXES
from auditor.demo import MotoServer

FaultHook = Callable[["Call"], "Fault | None"]

# The SigV4 credential scope: Credential=AKID/20240101/us-east-1/ec2/aws4_request
CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
# What moto itself answers for an API it does not implement (werkzeug's 500 page). It does not
# start with "<html>", so botocore raises ResponseParserError rather than a retryable 500.
_UNIMPLEMENTED_PAGE = (
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable "
    "to complete your request. Either the server is overloaded or there is an error in the "
    "application.</p>\n"
)


@dataclass(frozen=True)
class Call:
    """One AWS API request as the server received it (what a fault hook decides on).

    ``service``, ``region`` and ``access_key`` come from the SigV4 credential scope of the
    ``Authorization`` header (``""`` when unsigned); ``action`` from the ``Action`` form parameter
    (Query/EC2 protocols) or the ``X-Amz-Target`` header (JSON protocol).
    """

    service: str
    action: str
    region: str
    access_key: str
    number: int  # 1-based: this is the n-th call of `key` since the counts were last cleared
    params: Mapping[str, str] = field(default_factory=dict)  # Query form parameters, first values
    protocol: str = "query"  # "ec2" | "query" | "json": how an error reply must be shaped

    @property
    def key(self) -> str:
        """``service:Action``, as IAM names it (``ec2:DescribeVpcs``): the key of the counts."""
        return _call_key(self.service, self.action)

    @property
    def account(self) -> str:
        """The moto account the access key acts in (assumed-role keys map to the role's account)."""
        from moto.iam.models import get_account_id_from

        return str(get_account_id_from(self.access_key))


@dataclass(frozen=True)
class Fault:
    """What the server does instead of (or before) letting moto answer a call.

    Build one with the class methods; a fault hook returns one, or None to let the call through.
    """

    kind: Literal["error", "page", "reset", "stall"]
    status: int = 0
    code: str = ""
    message: str = ""
    body: str = ""
    seconds: float = 0.0

    @classmethod
    def error(cls, code: str, message: str = "", status: int = 400) -> Fault:
        """An AWS error reply, shaped for the call's protocol (EC2, Query or JSON)."""
        return cls("error", status=status, code=code, message=message or code)

    @classmethod
    def throttle(cls, code: str = "RequestLimitExceeded", status: int = 503) -> Fault:
        """EC2's throttling reply; ``Fault.throttle("Throttling", 400)`` is STS's."""
        return cls.error(code, "Request limit exceeded.", status)

    @classmethod
    def page(cls, status: int, body: str) -> Fault:
        """A non-AWS reply (HTML), e.g. ``Fault.page(502, "<html>Bad Gateway</html>")`` as a
        load balancer would send it: botocore treats a 5xx page starting with ``<html>`` as a
        retryable generic error."""
        return cls("page", status=status, body=body)

    @classmethod
    def unimplemented(cls) -> Fault:
        """The HTTP 500 page moto answers for an API it does not implement."""
        return cls.page(500, _UNIMPLEMENTED_PAGE)

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection with a TCP reset, answering nothing."""
        return cls("reset")

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Wait `seconds` before letting moto answer (past a client's read timeout, say)."""
        return cls("stall", seconds=seconds)

    def reply(self, call: Call) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status line, headers and body of an "error" or "page" fault."""
        status = f"{self.status} {HTTPStatus(self.status).phrase}"
        if self.kind == "page":
            return status, [("Content-Type", "text/html; charset=utf-8")], self.body.encode()
        request_id = str(uuid.uuid4())
        code, message = xml_escape(self.code), xml_escape(self.message)
        if call.protocol == "json":
            body = json.dumps({"__type": self.code, "message": self.message})
            headers = [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("x-amzn-ErrorType", self.code),
                ("x-amzn-RequestId", request_id),
            ]
            return status, headers, body.encode()
        if call.protocol == "ec2":
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>"
            )
        else:
            side = "Sender" if self.status < 500 else "Receiver"
            body = (
                f"<ErrorResponse><Error><Type>{side}</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                f"</ErrorResponse>"
            )
        return (
            status,
            [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
            body.encode(),
        )


class _DropConnection(ConnectionError):
    """Raised by the middleware to make the request handler reset the connection."""


class FaultServer(MotoServer):
    """The demo's moto server (auditor.demo.MotoServer) behind a middleware that

    * counts every AWS API call it receives by ``service:Action`` (``calls``), retries and
      faulted calls included, also by account and region (``calls_by_place``), and the most
      calls it had in progress at once (``peak_in_flight``); calls to ``/moto-api`` and
      REST-protocol calls are not counted;
    * optionally sleeps ``latency`` seconds before each counted call;
    * optionally asks ``faults(call)`` what to do with each counted call: ``None`` lets moto
      answer, a :class:`Fault` answers an AWS error or an HTML page, resets the connection, or
      stalls before answering.

    With the defaults (no latency, no faults) it answers exactly as moto does. ``latency`` and
    ``faults`` may be changed while the server runs. ``Call.number`` makes deterministic faults
    easy, e.g. every third DescribeVpcs is throttled::

        def faults(call: Call) -> Fault | None:
            if call.action == "DescribeVpcs" and call.number % 3 == 0:
                return Fault.throttle()
            return None
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        faults: FaultHook | None = None,
    ) -> None:
        super().__init__(host, port)
        self.latency = latency
        self.faults = faults
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._places: Counter[tuple[str, str, str]] = Counter()  # (access key, region, key)
        self._in_flight = 0
        self._peak_in_flight = 0

    def request_handler(self, base: type[Any]) -> type[Any]:
        """moto's handler, able to reset a connection (Fault.reset)."""
        return _request_handler(base)

    def reset(self) -> None:
        """Wipe all moto state (every account and region) and the call counts."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass
        self.clear_calls()

    @property
    def calls(self) -> Counter[str]:
        """A copy of the counts of API calls received, by ``service:Action`` (``ec2:DescribeVpcs``)."""
        with self._lock:
            return Counter(self._calls)

    @property
    def calls_by_place(self) -> Counter[tuple[str, str, str]]:
        """The counts by ``(account, region, "service:Action")``: the account the caller's
        access key acts in (assumed-role keys map to the role's account) and the region it
        signed for."""
        from moto.iam.models import get_account_id_from

        with self._lock:
            places = Counter(self._places)
        accounts = {key: str(get_account_id_from(key)) for key, _, _ in places}
        counts: Counter[tuple[str, str, str]] = Counter()
        for (access_key, region, call), count in places.items():
            counts[accounts[access_key], region, call] += count
        return counts

    @property
    def peak_in_flight(self) -> int:
        """The most counted calls the server was answering at once since the counts were
        cleared (latency and stalls included)."""
        with self._lock:
            return self._peak_in_flight

    def clear_calls(self) -> None:
        """Start counting from zero (``Call.number`` restarts too)."""
        with self._lock:
            self._calls.clear()
            self._places.clear()
            self._peak_in_flight = self._in_flight

    def serve(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI middleware in front of moto."""
        call = self._identify(environ)
        if call is None:
            return super().serve(environ, start_response)
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            return self._answer(call, environ, start_response)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, call: Call, environ: dict[str, Any], start_response: Any) -> Any:
        if self.latency > 0:
            time.sleep(self.latency)
        hook = self.faults
        fault = hook(call) if hook is not None else None
        if fault is None:
            return super().serve(environ, start_response)
        if fault.kind == "stall":
            time.sleep(fault.seconds)
            return super().serve(environ, start_response)
        if fault.kind == "reset":
            raise _DropConnection(f"fault injected: reset {call.key}")
        status, headers, body = fault.reply(call)
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _identify(self, environ: dict[str, Any]) -> Call | None:
        """The API call this request makes, counted; None for moto's own API and REST calls."""
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return None
        params = _query_params(environ)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        action = params.get("Action") or target.rpartition(".")[2]
        if not action:
            return None
        scope = CREDENTIAL_SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
        access_key, region, service = scope.groups() if scope else ("", "", "")
        protocol = "json" if target else "ec2" if service == "ec2" else "query"
        number = self.count_call(access_key, region, service, action, in_flight=False)
        return Call(service, action, region, access_key, number, params, protocol)

    def count_call(
        self, access_key: str, region: str, service: str, action: str, in_flight: bool = True
    ) -> int:
        """Count a call (for a front that answers it without the middleware, also as in
        flight until `count_done`); returns its number among the calls of its action."""
        key = _call_key(service, action)
        with self._lock:
            self._calls[key] += 1
            self._places[access_key, region, key] += 1
            if in_flight:
                self._in_flight += 1
                self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            return self._calls[key]

    def count_done(self) -> None:
        """A call counted as in flight by `count_call` has been answered."""
        with self._lock:
            self._in_flight -= 1


def _call_key(service: str, action: str) -> str:
    """``service:Action`` as IAM names it: the signing name, but CloudWatch signs as monitoring."""
    return f"{IAM_PREFIXES.get(service, service) or '?'}:{action}"


def _query_params(environ: dict[str, Any]) -> dict[str, str]:
    """Query-protocol parameters from the URL and a form body; the body is put back for moto."""
    pairs = urllib.parse.parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    content_type = str(environ.get("CONTENT_TYPE", ""))
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if content_type.startswith("application/x-www-form-urlencoded") and length > 0:
        body: bytes = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        pairs += urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params


def _request_handler(base: type[Any]) -> type[Any]:
    """moto's request handler, plus a real TCP reset when the middleware drops a connection."""

    class Handler(base):  # type: ignore[misc]
        _abort = False

        def connection_dropped(
            self, error: BaseException, environ: dict[str, Any] | None = None
        ) -> None:
            if isinstance(error, _DropConnection):
                # Linger 0: closing sends RST instead of FIN, as a crashed peer or proxy would.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self._abort = True
            else:
                super().connection_dropped(error, environ)

        def finish(self) -> None:
            super().finish()
            if self._abort:
                self.connection.close()  # the last reference: the socket closes, with RST

    return Handler
