"""Surviving faults: the audit finishes, reports what it could not see, and loses nothing it could.

The demo estate (2 accounts x 2 regions) is seeded once for the module into the session's moto
server; every audit is read-only, so each test audits the same estate through the CLI with a
fault hook on the server (see `FaultServer`) and compares with one fault-free audit:

* transient faults (throttling, 5xx, connection resets, read timeouts) are absorbed by botocore's
  own retries: identical findings, every account-region ok;
* lasting refusals (access denied, region not enabled, API not implemented) become coverage gaps
  with a one-line reason naming the API and the error, in the JSON, the HTML and the exit code,
  and every other account-region is audited as if nothing had happened;
* assumed-role credentials that near expiry mid-run are refreshed by botocore;
* an interrupted write leaves the previous report or snapshot intact and no temp file behind.
"""

from __future__ import annotations

import errno
import html
import json
import os
import re
import stat
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from click.testing import CliRunner, Result

import auditor.collect.sessions as sessions
from auditor.cli import EXIT_ERROR, EXIT_USAGE, main
from auditor.collect.sessions import READ_ONLY_OPERATIONS
from auditor.deliver.files import write_text
from auditor.demo import DEMO_ACCOUNTS, DEMO_REGIONS, DEMO_ROLE, seed_estate
from tests.faults import Call, Fault, FaultHook, FaultServer

A, B = DEMO_ACCOUNTS
USE1, EUW1 = DEMO_REGIONS
ALL = frozenset((a, r) for a in DEMO_ACCOUNTS for r in DEMO_REGIONS)
# What a check that cannot be made says instead: the only finding a gap may add.
CANNOT_CHECK_RULES = {"peering-peer-not-audited"}

Pair = tuple[str, str]  # (account_id, region)


# --- running audits ---------------------------------------------------------------------------


@dataclass
class Audit:
    result: Result
    report: dict[str, Any]
    html: str
    snapshot: dict[str, Any]

    @property
    def findings(self) -> set[tuple[str, str]]:
        return {(f["rule_id"], f["resource_id"]) for f in self.report["findings"]}

    @property
    def coverage(self) -> dict[Pair, dict[str, Any]]:
        return {(c["account_id"], c["region"]): c for c in self.report["coverage"]}

    def ok(self) -> set[Pair]:
        return {pair for pair, c in self.coverage.items() if c["status"] == "ok"}


def run_audit(out: Path, *extra: str) -> Audit:
    out.mkdir(parents=True, exist_ok=True)
    args = ["--role-name", DEMO_ROLE]
    for account in DEMO_ACCOUNTS:
        args += ["--account", account]
    for region in DEMO_REGIONS:
        args += ["--region", region]
    args += ["--json", str(out / "r.json"), "--html", str(out / "r.html")]
    args += ["--snapshot-out", str(out / "snap.json"), *extra]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code in (0, 1, 4, 5), result.stderr
    return Audit(
        result,
        json.loads((out / "r.json").read_text()),
        (out / "r.html").read_text(),
        json.loads((out / "snap.json").read_text()),
    )


def aws_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", USE1)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Baseline:
    audit: Audit
    calls: int  # API calls one fault-free audit makes


@pytest.fixture(scope="module")
def baseline(
    moto_server: FaultServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Baseline]:
    """The estate, seeded once for this module, and its fault-free audit."""
    moto_server.reset()
    assert not moto_server.calls  # reset() clears the counts too
    seed_estate(moto_server.url, hub=False)  # the classic estate: faults, not hubs
    assert moto_server.calls["ec2:CreateVpc"] == 8
    with pytest.MonkeyPatch.context() as monkeypatch:
        aws_env(monkeypatch, moto_server.url)
        moto_server.clear_calls()
        audit = run_audit(tmp_path_factory.mktemp("baseline"))
        calls = moto_server.calls
    # Every request that reached the server was a read-only operation (Query and JSON protocols).
    assert set(calls) <= READ_ONLY_OPERATIONS
    assert calls["sts:GetCallerIdentity"] == calls["sts:AssumeRole"] == 1
    assert calls["organizations:DescribeOrganization"] == 1
    assert calls["ec2:DescribeVpcs"] == 4
    assert audit.ok() == ALL
    assert audit.result.exit_code == 1
    # The estate's deliberate problems, in both accounts and both regions.
    assert {f["rule_id"] for f in audit.report["findings"]} >= {
        "s3-egress-via-nat",
        "peering-pending-acceptance",
        "peering-missing-return-route",
        "peering-peer-not-audited",
    }
    assert {(f["account_id"], f["region"]) for f in audit.report["findings"]} == ALL
    yield Baseline(audit, sum(calls.values()))


@pytest.fixture
def server(
    baseline: Baseline, moto_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultServer]:
    """The seeded server, counts cleared; whatever fault hook a test sets is removed after it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    moto_server.clear_calls()
    yield moto_server
    moto_server.faults = None
    moto_server.latency = 0.0


class Injected:
    """A fault hook from a rule, counting the faults it injected (thread-safe)."""

    def __init__(self, rule: Callable[[Call], Fault | None], limit: int | None = None) -> None:
        self.rule = rule
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, call: Call) -> Fault | None:
        with self._lock:
            if self.limit is not None and self.count >= self.limit:
                return None
            fault = self.rule(call)
            self.count += fault is not None
            return fault


def test_server_counts_calls_and_adds_latency(server: FaultServer) -> None:
    ec2 = boto3.client("ec2", region_name=EUW1)
    server.latency = 0.2
    started = time.monotonic()
    for _ in range(3):
        ec2.describe_regions()
    assert time.monotonic() - started >= 0.6
    assert server.calls == Counter({"ec2:DescribeRegions": 3})
    server.clear_calls()
    assert server.calls == Counter()


# --- 1. transient faults: absorbed by botocore's retries --------------------------------------


def assert_same_as_baseline(audit: Audit, baseline: Baseline) -> None:
    assert audit.ok() == ALL, audit.report["coverage"]
    assert audit.findings == baseline.audit.findings
    assert audit.result.exit_code == baseline.audit.result.exit_code == 1
    assert audit.report["summary"]["coverage"] == {"ok": 4, "error": 0}


def throttling_storm(call: Call) -> Fault | None:
    """Every third EC2 call of each action, alternating EC2's two throttling replies; the first
    call of each STS and Organizations action too (Query and JSON error shapes)."""
    if call.service == "ec2":
        if call.number % 6 == 3:
            return Fault.throttle("RequestLimitExceeded", 503)
        if call.number % 6 == 0:
            return Fault.throttle("Throttling", 400)
    elif call.number == 1:
        code = "TooManyRequestsException" if call.service == "organizations" else "Throttling"
        return Fault.throttle(code, 400)
    return None


def test_throttling_storm_is_absorbed_by_adaptive_retries(
    server: FaultServer, baseline: Baseline, tmp_path: Path
) -> None:
    # A storm that passes: 12 throttles in ~110 calls. Adaptive mode then slows each throttled
    # client down for the rest of its account-region, so more would only make the test slow.
    storm = Injected(throttling_storm, limit=12)
    server.faults = storm

    audit = run_audit(tmp_path)

    assert_same_as_baseline(audit, baseline)
    assert storm.count == 12
    calls = server.calls
    assert sum(calls.values()) == baseline.calls + storm.count  # each throttled call retried once
    assert calls["sts:AssumeRole"] == 2  # account B's role: throttled once, then assumed


def every_third(fault: Fault) -> Callable[[Call], Fault | None]:
    return lambda call: fault if call.number % 3 == 0 else None


TRANSIENT = {
    "500-InternalError": every_third(
        Fault.error("InternalError", "An internal error has occurred", 500)
    ),
    "503-Unavailable": every_third(Fault.error("Unavailable", "The server is overloaded", 503)),
    "502-proxy-html-page": every_third(
        Fault.page(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    ),
    "connection-reset": every_third(Fault.reset()),
    "read-timeout": lambda call: (
        Fault.stall(2)
        if call.action in ("DescribeSubnets", "AssumeRole") and call.number == 1
        else None
    ),
}


@pytest.mark.parametrize("name", TRANSIENT)
def test_transient_faults_are_retried_and_change_nothing(
    server: FaultServer,
    baseline: Baseline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    if name == "read-timeout":
        # Stall 2 s past a 1 s read timeout (the product's is 30 s) to keep the test fast.
        monkeypatch.setattr(
            sessions, "CLIENT_CONFIG", sessions.CLIENT_CONFIG.merge(Config(read_timeout=1))
        )
    injected = Injected(TRANSIENT[name])
    server.faults = injected

    audit = run_audit(tmp_path)

    assert_same_as_baseline(audit, baseline)
    assert injected.count >= (2 if name == "read-timeout" else 20)
    retried = sum(server.calls.values()) - baseline.calls
    if name == "read-timeout":
        assert retried >= injected.count  # a slow moto on a busy machine may time out too
    else:
        assert retried == injected.count  # each fault cost exactly one retry


# --- 2. lasting refusals: coverage gaps, everything else audited ------------------------------


@dataclass(frozen=True)
class Refusal:
    rule: FaultHook
    gaps: frozenset[Pair]
    reason: str  # regex the coverage reason must match from its start
    fail_on: str = "low"


def denied(action: str, region: str) -> FaultHook:
    def rule(call: Call) -> Fault | None:
        if call.action == action and call.region == region:
            return Fault.error(
                "UnauthorizedOperation", "You are not authorized to perform this operation.", 403
            )
        return None

    return rule


def assume_role_denied(account: str) -> FaultHook:
    def rule(call: Call) -> Fault | None:
        if call.action == "AssumeRole" and f"::{account}:role/" in call.params.get("RoleArn", ""):
            return Fault.error(
                "AccessDenied",
                f"User: arn:aws:iam::{A}:user/auditor is not authorized to perform: "
                f"sts:AssumeRole on resource: {call.params['RoleArn']}",
                403,
            )
        return None

    return rule


def region_not_enabled(account: str, region: str, code: str) -> FaultHook:
    messages = {
        "AuthFailure": "AWS was not able to validate the provided access credentials",
        "OptInRequired": "You are not subscribed to this service. Please go to "
        "http://aws.amazon.com to subscribe.",
    }

    def rule(call: Call) -> Fault | None:
        if call.service == "ec2" and call.region == region and call.account == account:
            return Fault.error(code, messages[code], 401)
        return None

    return rule


def unimplemented(action: str, region: str) -> FaultHook:
    def rule(call: Call) -> Fault | None:
        if call.action == action and call.region == region:
            return Fault.unimplemented()
        return None

    return rule


REFUSALS = {
    "flow-logs-denied-in-eu-west-1": Refusal(
        denied("DescribeFlowLogs", EUW1),
        frozenset({(A, EUW1), (B, EUW1)}),
        r"UnauthorizedOperation on DescribeFlowLogs: You are not authorized",
        fail_on="none",
    ),
    "assume-role-denied-for-one-account": Refusal(
        assume_role_denied(B),
        frozenset({(B, USE1), (B, EUW1)}),
        rf"AccessDenied on AssumeRole: User: .* is not authorized to perform: sts:AssumeRole "
        rf"on resource: arn:aws:iam::{B}:role/{DEMO_ROLE}",
    ),
    "region-not-enabled-auth-failure": Refusal(
        region_not_enabled(B, EUW1, "AuthFailure"),
        frozenset({(B, EUW1)}),
        r"AuthFailure on DescribeVpcs: AWS was not able to validate",
    ),
    "region-not-enabled-opt-in-required": Refusal(
        region_not_enabled(A, EUW1, "OptInRequired"),
        frozenset({(A, EUW1)}),
        r"OptInRequired on DescribeVpcs: You are not subscribed to this service",
    ),
    "api-not-implemented": Refusal(
        unimplemented("DescribeTransitGateways", EUW1),
        frozenset({(A, EUW1), (B, EUW1)}),
        r"ResponseParserError on DescribeTransitGateways: API not available at this endpoint",
    ),
}


def involved(finding: dict[str, Any], peerings: dict[str, set[Pair]]) -> set[Pair]:
    """The account-regions a finding rests on: both sides of a peering, else its own."""
    own = {(finding["account_id"], finding["region"])}
    return peerings.get(finding["resource_id"], set()) | own


def located(snapshot: dict[str, Any], pairs: AbstractSet[Pair]) -> set[tuple[str, str]]:
    """(kind, id) of every resource the snapshot holds in these account-regions."""
    return {
        (kind, item["id"])
        for kind, items in snapshot.items()
        if isinstance(items, list) and kind not in ("coverage", "coverage_notes")
        for item in items
        if (item.get("account_id"), item.get("region")) in pairs
    }


@pytest.mark.parametrize("name", REFUSALS)
def test_refusal_is_a_coverage_gap_and_the_rest_is_fully_audited(
    server: FaultServer, baseline: Baseline, tmp_path: Path, name: str
) -> None:
    refusal = REFUSALS[name]
    injected = Injected(refusal.rule)
    server.faults = injected

    audit = run_audit(tmp_path, "--fail-on", refusal.fail_on)

    assert injected.count >= 1
    # The gaps, each with a one-line reason naming the API and the error...
    ok = ALL - refusal.gaps
    assert audit.ok() == ok
    assert set(audit.coverage) == ALL
    reasons = set()
    for pair in refusal.gaps:
        gap = audit.coverage[pair]
        assert gap["status"] == "error"
        reason = gap["error"]
        assert re.match(refusal.reason, reason), reason
        assert "\n" not in reason and len(reason) <= 300
        reasons.add(reason)
    assert audit.report["summary"]["coverage"] == {"ok": len(ok), "error": len(refusal.gaps)}
    # ...in the HTML coverage table and its warning, on stderr, and in the exit code.
    assert f"{len(refusal.gaps)} of 4 account-regions could not be audited" in audit.html
    for reason in reasons:
        assert f"<code>{html.escape(reason)}</code>" in audit.html
    assert f"{len(refusal.gaps)} could NOT be audited" in audit.result.stderr
    assert audit.result.exit_code == (5 if refusal.fail_on == "low" else 4)
    assert audit.findings  # the other account-regions' findings are there (exit 5 rests on them)

    # Every other account-region is read completely...
    before = baseline.audit.snapshot
    assert located(audit.snapshot, ok) == located(before, ok)
    assert not located(audit.snapshot, refusal.gaps)
    # ...and keeps every finding that does not rest on a gap; a gap adds only "cannot check".
    peerings = {
        p["id"]: {(side["account_id"], side["region"]) for side in (p["requester"], p["accepter"])}
        for p in before["peerings"]
    }
    expected = {
        (f["rule_id"], f["resource_id"])
        for f in baseline.audit.report["findings"]
        if involved(f, peerings) <= ok
    }
    assert expected, "the scenario should leave findings to keep"
    assert expected <= audit.findings
    assert {rule for rule, _ in audit.findings - baseline.audit.findings} <= CANNOT_CHECK_RULES


# --- 3. credentials that expire mid-run are refreshed -----------------------------------------


def test_assumed_role_credentials_are_refreshed_before_they_expire(
    server: FaultServer, baseline: Baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The role's first credentials expire in 20 minutes; after account B's 5th EC2 call the
    clock jumps 15 minutes (inside botocore's 10-minute mandatory refresh window): the next call
    re-assumes the role and the rest of B is read with the new keys."""
    offset = timedelta()

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    class ClockedCredentials(RefreshableCredentials):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "time_fetcher": clock})

    monkeypatch.setattr(sessions, "RefreshableCredentials", ClockedCredentials)

    issued: list[str] = []  # access keys of each AssumeRole, in order

    def shorten_first(parsed: dict[str, Any], **_: Any) -> None:
        creds = parsed["Credentials"]
        if not issued:
            creds["Expiration"] = datetime.now(UTC) + timedelta(minutes=20)
        issued.append(creds["AccessKeyId"])

    real_client = sessions.client

    def client(session: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        made = real_client(session, service, *args, **kwargs)
        if service == "sts":
            made.meta.events.register("after-call.sts.AssumeRole", shorten_first)
        return made

    monkeypatch.setattr(sessions, "client", client)
    monkeypatch.setattr("auditor.collect.client", client)  # the STS client all accounts share

    b_calls: list[tuple[str, str]] = []  # (access key, region) of account B's EC2 calls

    def watch(call: Call) -> None:
        nonlocal offset
        if call.service == "ec2" and call.access_key in issued:
            b_calls.append((call.access_key, call.region))
            if len(b_calls) == 5:
                offset = timedelta(minutes=15)

    server.faults = watch

    # One worker: account-regions are read one after another, so the order of calls is fixed.
    audit = run_audit(tmp_path, "--workers", "1")

    assert_same_as_baseline(audit, baseline)
    assert len(issued) == 2 and issued[0] != issued[1]
    assert server.calls["sts:AssumeRole"] == 2
    first, second = issued
    keys = [key for key, _ in b_calls]
    assert keys[:5] == [first] * 5
    assert keys[5:] == [second] * (len(keys) - 5)
    assert {region for key, region in b_calls if key == second} == {USE1, EUW1}


# --- 4. interrupted writes leave the previous file ---------------------------------------------


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class HalfWriter:
    """A file whose write() gets half the text out, then fails."""

    def __init__(self, real: Any, error: BaseException) -> None:
        self.real = real
        self.error = error

    def __enter__(self) -> HalfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()

    def write(self, text: str) -> int:
        self.real.write(text[: len(text) // 2])
        self.real.flush()
        raise self.error


def break_writes(monkeypatch: pytest.MonkeyPatch, stage: str, error: BaseException) -> None:
    """Make write_text fail with `error` while writing its temp file (after half the text),
    flushing it to disk, or renaming it over the target. Only temp files write_text makes are
    affected: the moto server and everything else in the process keep working."""
    fds: set[int] = set()
    paths: set[str] = set()
    real_mkstemp, real_fdopen, real_fsync, real_replace = (
        tempfile.mkstemp,
        os.fdopen,
        os.fsync,
        os.replace,
    )

    def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, path = real_mkstemp(*args, **kwargs)
        fds.add(fd)
        paths.add(path)
        return fd, path

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        opened = real_fdopen(fd, *args, **kwargs)
        return HalfWriter(opened, error) if stage == "write" and fd in fds else opened

    def fsync(fd: int) -> None:
        if stage == "fsync" and fd in fds:
            raise error
        real_fsync(fd)

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        if stage == "rename" and str(src) in paths:
            raise error
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "fdopen", fdopen)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
    ids=["disk-full", "interrupt"],
)
@pytest.mark.parametrize("stage", ["write", "fsync", "rename"])
def test_interrupted_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str, error: BaseException
) -> None:
    target = tmp_path / "report.json"
    target.write_text("previous report\n")
    break_writes(monkeypatch, stage, error)

    with pytest.raises(type(error)):
        write_text(target, "new report " * 10_000)

    assert target.read_text() == "previous report\n"
    assert listing(tmp_path) == ["report.json"]


def test_interrupted_audit_keeps_the_previous_snapshot_and_reports(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the snapshot is being written: the CLI says so, nothing is half-written."""
    for name in ("snap.json", "r.json", "r.html"):
        (tmp_path / name).write_text(f"previous {name}\n")
    break_writes(monkeypatch, "write", KeyboardInterrupt())

    args = ["--role-name", DEMO_ROLE, "--account", A, "--region", USE1]
    args += ["--snapshot-out", str(tmp_path / "snap.json")]
    args += ["--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    result = CliRunner().invoke(main, args, catch_exceptions=False)

    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    for name in ("snap.json", "r.json", "r.html"):
        assert (tmp_path / name).read_text() == f"previous {name}\n"
    assert listing(tmp_path) == ["r.html", "r.json", "snap.json"]


def test_failed_report_write_is_an_error_and_keeps_the_previous_report(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "r.json").write_text("previous report\n")
    break_writes(monkeypatch, "fsync", OSError(errno.ENOSPC, "No space left on device"))

    args = ["--role-name", DEMO_ROLE, "--account", A, "--region", USE1]
    result = CliRunner().invoke(
        main, [*args, "--json", str(tmp_path / "r.json")], catch_exceptions=False
    )

    assert result.exit_code in (EXIT_USAGE, EXIT_ERROR)
    assert "cannot write JSON report" in result.stderr
    assert "No space left on device" in result.stderr
    assert (tmp_path / "r.json").read_text() == "previous report\n"
    assert listing(tmp_path) == ["r.json"]


def test_special_files_and_symlinks_are_written_through_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_text(fifo, "through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    finally:
        os.close(reader)
