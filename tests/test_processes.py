"""Reading an audit's accounts in several forked processes gives what one process gives."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
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
from auditor.demo import DEMO_ACCOUNTS, DEMO_REGIONS, DEMO_ROLE, MotoServer, seed_estate
from auditor.errors import AuditError, InputError
from auditor.model import Snapshot
from auditor.serial import dumps

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
def test_processes_read_what_one_process_reads(aws: MotoServer, processes: int) -> None:
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


def test_progress_adds_up_the_processes(aws: MotoServer) -> None:
    seed_estate(aws.url)
    seen: list[tuple[int, int, int]] = []
    collect(Request(**{**REQUEST.__dict__, "processes": 2}), lambda *c: seen.append(c))
    places = len(DEMO_ACCOUNTS) * len(DEMO_REGIONS)
    # Reported once both processes have counted theirs: the total never grows as they start.
    assert {total for _, total, _ in seen} == {places}
    assert seen[-1] == (places, places, 0)


def test_cli_processes_option_gives_the_same_report(
    aws: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
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
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(aws.url)

    def refused(self: Any, *args: Any) -> Any:
        raise InputError("a one-line reason")

    monkeypatch.setattr(auditor.collect.Target, "read", refused)
    with pytest.raises(InputError, match=r"^a one-line reason$"):
        collect(Request(**{**REQUEST.__dict__, "processes": 2}))


def test_a_process_that_dies_is_one_clear_error(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_estate(aws.url)

    def killed(self: Any, *args: Any) -> Any:
        os._exit(9)  # as the kernel's OOM killer would end it: no word back

    monkeypatch.setattr(auditor.collect.Target, "read", killed)
    with pytest.raises(AuditError, match=r"ended without its results \(exit code 9\)"):
        collect(Request(**{**REQUEST.__dict__, "processes": 2}))


def test_a_forked_child_lets_go_of_the_parents_connections(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
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
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
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


def children_of(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (from /proc; zombies count as gone)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.add(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie or a reaped process is not)."""
    left = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.add(pid)
    return left


def slow_audit(aws: MotoServer, tmp_path: Path) -> subprocess.Popen[str]:
    """`vpc-audit` with 2 collector processes reading 40 account-regions at 0.2 s a call (a
    minute's work), started once both processes are reading."""
    seed_estate(aws.url)
    aws.latency = 0.2
    cmd = [sys.executable, "-m", "auditor", "--role-name", DEMO_ROLE, "--processes", "2"]
    cmd += ["--workers", "4", "--json", str(tmp_path / "r.json")]
    for region in DEMO_REGIONS:
        cmd += ["--region", region]
    for i in range(20):
        cmd += ["--account", f"{100000000000 + i:012d}"]
    audit = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while len(children_of(audit.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # the processes have opened their accounts and are reading
    return audit


def test_sigterm_ends_the_run_and_its_collector_processes(aws: MotoServer, tmp_path: Path) -> None:
    """A scheduler's timeout or `docker stop` sends SIGTERM: the run ends its collector
    processes, says so in one line and exits 143."""
    audit = slow_audit(aws, tmp_path)
    workers = children_of(audit.pid)
    assert len(workers) == 2
    audit.send_signal(signal.SIGTERM)
    _, stderr = audit.communicate(timeout=30)
    assert audit.returncode == 143
    assert stderr.strip().splitlines()[-1] == "vpc-audit: terminated"
    assert alive(workers) == set()
    assert not (tmp_path / "r.json").exists()


def test_collector_processes_stop_when_the_parent_is_killed(
    aws: MotoServer, tmp_path: Path
) -> None:
    """A parent killed outright (SIGKILL, the OOM killer) cannot end its children: each one
    stops at its next word to the parent instead of reading AWS to the end for nobody."""
    audit = slow_audit(aws, tmp_path)
    workers = children_of(audit.pid)
    assert len(workers) == 2
    audit.kill()
    audit.communicate(timeout=30)
    deadline = time.monotonic() + 20  # the whole audit would take a minute
    while alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive(workers) == set()
