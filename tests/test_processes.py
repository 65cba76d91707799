"""Reading an audit's accounts in several forked processes gives what one process gives."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

import auditor.collect
from auditor.cli import main
from auditor.collect import Request, collect
from auditor.collect.processes import (
    CollectorCrash,
    connection_pools,
    share,
    usable_cores,
)
from auditor.demo import DEMO_ACCOUNTS, DEMO_REGIONS, DEMO_ROLE, seed_estate
from auditor.errors import AuditError, InputError
from auditor.model import Snapshot
from auditor.serial import dumps
from tests.faults import FaultServer

REQUEST = Request(accounts=DEMO_ACCOUNTS, role_name=DEMO_ROLE, regions=DEMO_REGIONS)


def without_time(text: str) -> str:
    stamps = ('"collected_at"', '"generated_at"')
    return "\n".join(line for line in text.splitlines() if not any(s in line for s in stamps))


def lists_apart(snapshot: Snapshot) -> tuple[str, list[tuple[str, str, list[str]]]]:
    """The snapshot without its prefix lists, and the lists' ids and CIDRs.

    moto gives each account its own ids for the AWS service lists (AWS gives a region's
    accounts the same ones). A run reads a region's service lists once, through the first
    account of the process that reads the region, so under moto another account's routes
    name lists that run only knows by their entries (no name): which ones depends on how the
    accounts are shared out. The CIDRs and the findings do not.
    """
    lists = sorted((p.id, p.region, p.cidrs) for p in snapshot.prefix_lists)
    return without_time(dumps(dataclasses.replace(snapshot, prefix_lists=[]))), lists


@pytest.mark.parametrize(
    ("accounts", "processes", "workers"),
    [(10, 2, 32), (3, 2, 32), (7, 4, 4), (5, 4, 5), (200, 2, 32), (2, 2, 2)],
)
def test_share_deals_every_account_once_with_threads_in_proportion(
    accounts: int, processes: int, workers: int
) -> None:
    ids = [f"{i:012d}" for i in range(accounts)]
    shares = share(ids, processes, workers)
    assert len(shares) == processes
    assert sorted(a for part, _ in shares for a in part) == ids
    assert sum(threads for _, threads in shares) == workers
    for part, threads in shares:
        assert threads >= 1
        # About workers / accounts threads per account in every share (rounding: one either way).
        assert abs(threads - workers * len(part) / accounts) <= 1


@pytest.mark.parametrize("processes", [2, 4])  # 4: more processes than accounts
def test_processes_read_what_one_process_reads(aws: FaultServer, processes: int) -> None:
    seed_estate(aws.url)
    one = collect(REQUEST)
    aws.clear_calls()
    two = collect(Request(**{**REQUEST.__dict__, "processes": processes}))
    assert lists_apart(two) == lists_apart(one)
    assert len(two.coverage) == len(DEMO_ACCOUNTS) * len(DEMO_REGIONS)
    # One AssumeRole per member account (the base account is read with its own credentials),
    # and the organisation asked once, whichever process reads which account.
    assert aws.calls["sts:AssumeRole"] == len(DEMO_ACCOUNTS) - 1
    assert aws.calls["organizations:DescribeOrganization"] == 1


def test_progress_adds_up_the_processes(aws: FaultServer) -> None:
    seed_estate(aws.url)
    seen: list[tuple[int, int, int]] = []
    collect(Request(**{**REQUEST.__dict__, "processes": 2}), lambda *c: seen.append(c))
    places = len(DEMO_ACCOUNTS) * len(DEMO_REGIONS)
    # Reported once both processes have counted theirs: the total never grows as they start.
    assert {total for _, total, _ in seen} == {places}
    assert seen[-1] == (places, places, 0)


def test_cli_processes_option_gives_the_same_report(
    aws: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(aws.url)
    forked: list[int] = []
    real = auditor.collect.read_in_processes

    def counted(target: Any, accounts: Any, processes: int, *args: Any) -> Any:
        forked.append(processes)
        return real(target, accounts, processes, *args)

    monkeypatch.setattr(auditor.collect, "read_in_processes", counted)
    reports = []
    for processes in ("1", "2"):
        args = ["--role-name", DEMO_ROLE, "--processes", processes, "-q", "--fail-on", "none"]
        for account in DEMO_ACCOUNTS:
            args += ["--account", account]
        out = tmp_path / f"report-{processes}.json"
        result = CliRunner().invoke(main, [*args, "--json", str(out)])
        assert result.exit_code == 0, result.output
        report = json.loads(out.read_text())
        # Finding ids, messages and evidence; not the evidence's prefix list ids (see lists_apart).
        reports.append((report["summary"], [(f["id"], f["message"]) for f in report["findings"]]))
    assert reports[0] == reports[1]
    assert reports[0][1]
    assert forked == [2]  # --processes 1 read in this process, --processes 2 forked two


def test_a_failing_process_is_one_clear_error(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(aws.url)
    read = auditor.collect.Target.read

    def broken(self: Any, account_ids: Any, *args: Any) -> Any:
        if DEMO_ACCOUNTS[1] in account_ids:
            raise RuntimeError("boom")
        return read(self, account_ids, *args)

    monkeypatch.setattr(auditor.collect.Target, "read", broken)
    with pytest.raises(CollectorCrash) as crash:
        collect(Request(**{**REQUEST.__dict__, "processes": 2}))
    assert str(crash.value) == "RuntimeError: boom"
    # The child's traceback comes along for --debug, out of the one-line message.
    assert 'raise RuntimeError("boom")' in "".join(crash.value.__notes__)


def test_a_user_error_in_a_process_keeps_its_kind(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(aws.url)

    def refused(self: Any, *args: Any) -> Any:
        raise InputError("a one-line reason")

    monkeypatch.setattr(auditor.collect.Target, "read", refused)
    with pytest.raises(InputError, match=r"^a one-line reason$"):
        collect(Request(**{**REQUEST.__dict__, "processes": 2}))


def test_a_process_that_dies_is_one_clear_error(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(aws.url)

    def killed(self: Any, *args: Any) -> Any:
        os._exit(9)  # as the kernel's OOM killer would end it: no word back

    monkeypatch.setattr(auditor.collect.Target, "read", killed)
    with pytest.raises(AuditError, match=r"ended without its results \(exit code 9\)"):
        collect(Request(**{**REQUEST.__dict__, "processes": 2}))


def test_a_forked_child_lets_go_of_the_parents_connections(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child does not reuse the parent's kept-alive connections (a botocore client's here)."""
    sts = boto3.client("sts")
    sts.get_caller_identity()
    manager = sts._endpoint.http_session._manager
    assert len(manager.pools) == 1  # the connection the parent keeps alive
    assert manager in connection_pools()

    def read(self: Any, *args: Any) -> auditor.collect.Part:  # runs in each child
        return auditor.collect.Part([], [], [], organization_id=str(len(manager.pools)))

    monkeypatch.setattr(auditor.collect.Target, "read", read)
    snapshot = collect(Request(**{**REQUEST.__dict__, "processes": 2}))
    assert snapshot.scope.organization_id == "0"  # the child's copy was closed
    assert len(manager.pools) == 1  # the parent's own stays open


def test_an_organisation_with_no_active_account_is_nothing_to_audit(
    aws: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auditor.collect, "org_accounts", lambda *_: [])
    snapshot = collect(Request(org=True, role_name=DEMO_ROLE, processes=2))
    assert snapshot.coverage == [] and snapshot.vpcs == []


@pytest.mark.parametrize(
    ("cpu_max", "cores"), [("max 100000\n", 2), ("50000 100000\n", 1), ("150000 100000\n", 2)]
)
def test_a_container_cpu_limit_caps_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str, cores: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1})
    limit = tmp_path / "cpu.max"
    limit.write_text(cpu_max)
    assert usable_cores(limit) == cores
    assert usable_cores(tmp_path / "absent") == 2


# --- signals: a run stopped from outside leaves no collector process behind -------------------


def state_and_parent(stat: Path) -> tuple[str, int]:
    """A process's state and parent from /proc/PID/stat; ("gone", 0) once it has ended."""
    try:
        state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
    except OSError:
        return "gone", 0
    return state, int(ppid)


def running(pid: int) -> bool:
    """Still running: neither gone nor a zombie (an orphan's parent may be slow to reap it)."""
    return state_and_parent(Path(f"/proc/{pid}/stat"))[0] not in ("gone", "Z")


def running_children(pid: int) -> set[int]:
    return {
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if state_and_parent(stat)[1] == pid and running(int(stat.parent.name))
    }


@contextmanager
def slow_audit(aws: FaultServer, processes: int, **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """`vpc-audit` reading 40 account-regions at 0.2 s a call (most of a minute's work) with
    `processes` collector processes, yielded once it reads EC2; killed with whatever it left
    running if the test fails."""
    seed_estate(aws.url)
    aws.latency = 0.2
    cmd = [sys.executable, "-m", "auditor", "--role-name", DEMO_ROLE, "--json", os.devnull]
    cmd += ["--processes", str(processes), "--workers", "4"]
    for region in DEMO_REGIONS:
        cmd += ["--region", region]
    for i in range(20):
        cmd += ["--account", f"{100000000000 + i:012d}"]
    aws.clear_calls()
    audit = subprocess.Popen(cmd, text=True, env=os.environ.copy(), **popen)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while aws.calls["ec2:DescribeVpcs"] < processes and time.monotonic() < deadline:
            workers |= running_children(audit.pid)
            time.sleep(0.05)
        yield audit
    finally:
        for pid in [audit.pid, *workers]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        audit.wait()


@pytest.mark.parametrize("processes", [1, 2])
def test_sigterm_ends_the_run_and_its_collector_processes(aws: FaultServer, processes: int) -> None:
    """A scheduler's timeout or `docker stop` sends SIGTERM: the run ends its collector
    processes and reads no account-region it had not started (one process or several), says
    so in one line and exits 143."""
    with slow_audit(aws, processes, stderr=subprocess.PIPE) as audit:
        workers = running_children(audit.pid)
        assert len(workers) == (processes if processes > 1 else 0)
        audit.send_signal(signal.SIGTERM)
        _, stderr = audit.communicate(timeout=30)
        assert audit.returncode == 143
        assert stderr.strip().splitlines()[-1] == "vpc-audit: terminated"
        assert not any(running(pid) for pid in workers)
        started = aws.calls["ec2:DescribeVpcs"]
        time.sleep(1)
        assert aws.calls["ec2:DescribeVpcs"] == started < 40 // 4


def test_collector_processes_stop_when_the_parent_is_killed(aws: FaultServer) -> None:
    """A parent killed outright (SIGKILL, the OOM killer) cannot end its children: each one
    stops at its next word to the parent instead of reading AWS to the end for nobody."""
    with slow_audit(aws, 2, stderr=subprocess.DEVNULL) as audit:
        workers = running_children(audit.pid)
        assert len(workers) == 2
        audit.kill()
        audit.wait()
        deadline = time.monotonic() + 20  # the whole audit would take most of a minute
        while any(running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(running(pid) for pid in workers)
