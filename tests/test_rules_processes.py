"""The rule pack in two processes: the same findings as in one, and a child that fails costs
nothing but time (the parent runs its rules itself)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

from auditor.concurrency import can_fork
from auditor.model import Finding, Severity, Snapshot
from auditor.rules import REGISTRY, evaluate, processes
from auditor.rules.processes import in_two_processes, split, worth_splitting

pytestmark = pytest.mark.skipif(not can_fork(), reason="the rules split only where fork is safe")


def offline_benchmark() -> ModuleType:
    """benchmarks/offline.py, for its synthetic estates (peerings, hubs, egress: every family)."""
    path = Path(__file__).parent.parent / "benchmarks" / "offline.py"
    spec = importlib.util.spec_from_file_location("offline_benchmark", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_json(findings: Sequence[Finding]) -> list[str]:
    return [json.dumps(dataclasses.asdict(f), sort_keys=True, default=str) for f in findings]


@pytest.mark.parametrize("estate", ["synthetic_snapshot", "hub_snapshot"])
def test_two_processes_find_exactly_what_one_does(
    estate: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot: Snapshot = getattr(offline_benchmark(), estate)(300)
    monkeypatch.setattr(processes, "SPLIT_FROM_VPCS", 100)
    assert worth_splitting(snapshot, 2) and not worth_splitting(snapshot, 1)
    forks = []
    real = processes.in_two_processes
    monkeypatch.setattr("auditor.rules.in_two_processes", lambda *a: forks.append(1) or real(*a))
    one = evaluate(snapshot, processes=1).findings
    two = evaluate(snapshot, processes=2).findings
    assert forks == [1]
    child, own = split(sorted(REGISTRY))
    assert len(one) > 100
    assert {f.rule_id for f in one} & set(child) and {f.rule_id for f in one} & set(own)
    assert as_json(two) == as_json(one)


def test_small_snapshots_and_single_cores_stay_in_one_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not worth_splitting(Snapshot(), 8)
    big = offline_benchmark().synthetic_snapshot(120)
    monkeypatch.setattr(processes, "SPLIT_FROM_VPCS", 100)
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    assert worth_splitting(big, 2)
    monkeypatch.setattr(processes, "usable_cores", lambda: 1)  # e.g. a 0.5 vCPU container
    assert not worth_splitting(big, 8)


def test_the_split_keeps_rules_that_share_work_together() -> None:
    child, own = split(sorted(REGISTRY))
    assert {
        "peering-missing-return-route",
        "peering-nacl-blocks",
        "tgw-missing-return-route",
    } <= set(child)
    assert {"s3-egress-via-nat", "vpc-flow-logs-off"} <= set(own)
    assert sorted(child + own) == sorted(REGISTRY)


def finding(rule_id: str) -> Finding:
    return Finding(
        rule_id, Severity.LOW, "t", "1", "r", "x", str(os.getpid()), None, "m", "f", id=rule_id
    )


RULES = ["peering-missing-return-route", "s3-egress-via-nat"]


def test_each_share_runs_in_its_own_process() -> None:
    got = in_two_processes(lambda ids: [finding(i) for i in ids], RULES)
    where = {f.rule_id: f.resource_id for f in got}
    assert [f.rule_id for f in got] == ["s3-egress-via-nat", "peering-missing-return-route"]
    assert where["s3-egress-via-nat"] == str(os.getpid())
    assert where["peering-missing-return-route"] != str(os.getpid())


def test_a_child_that_fails_or_dies_leaves_its_rules_to_the_parent(
    capfd: pytest.CaptureFixture[str],
) -> None:
    parent = os.getpid()

    def failing(ids: Sequence[str]) -> list[Finding]:
        if os.getpid() != parent:
            raise RuntimeError("only in the child")
        return [finding(i) for i in ids]

    def dying(ids: Sequence[str]) -> list[Finding]:
        if os.getpid() != parent:
            os._exit(9)
        return [finding(i) for i in ids]

    for work in (failing, dying):
        got = in_two_processes(work, RULES)
        assert sorted(f.rule_id for f in got) == sorted(RULES)
        assert {f.resource_id for f in got} == {str(parent)}
    assert "Traceback" not in capfd.readouterr().err  # the child's error is not printed


def test_a_fork_that_fails_leaves_every_rule_to_the_parent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_fork(self: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(multiprocessing.get_context("fork").Process, "start", no_fork)
    got = in_two_processes(lambda ids: [finding(i) for i in ids], RULES)
    assert sorted(f.rule_id for f in got) == sorted(RULES)
    assert {f.resource_id for f in got} == {str(os.getpid())}


def test_an_error_in_a_rule_surfaces_from_the_parent() -> None:
    def broken(ids: Sequence[str]) -> list[Finding]:
        if "peering-missing-return-route" in ids:
            raise ValueError("a rule's bug")
        return [finding(i) for i in ids]

    with pytest.raises(ValueError, match="a rule's bug"):
        in_two_processes(broken, RULES)
