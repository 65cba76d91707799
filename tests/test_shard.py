"""Sharded runs: `--shard I/N` collects a fixed share of the account-regions into a snapshot and
`vpc-audit merge` audits the shards as one run.

On the demo estate, the shards' merge equals a single run: the same findings and the same
snapshot, timestamps aside. Shards that do not belong together are a one-line error (exit 2),
as is a shard option that makes no sense.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli import EXIT_USAGE, main
from auditor.collect.fanout import shard_of
from auditor.collect.merge import merge_views
from auditor.demo import DEMO_ACCOUNTS, DEMO_REGIONS, DEMO_ROLE, seed_estate
from auditor.model import Coverage, Scope, Shard, Snapshot, Vpc
from auditor.serial import dumps
from tests.faults import Call, Fault, FaultServer

A, B = DEMO_ACCOUNTS
USE1, EUW1 = DEMO_REGIONS
SCOPE_ARGS = ["--role-name", DEMO_ROLE]
for _account in DEMO_ACCOUNTS:
    SCOPE_ARGS += ["--account", _account]
for _region in DEMO_REGIONS:
    SCOPE_ARGS += ["--region", _region]


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def without_times(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k != "collected_at"}


def one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == EXIT_USAGE, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- shard + merge equals a single run --------------------------------------------------------


@pytest.mark.parametrize("count", [3, 2])
def test_merged_shards_equal_a_single_run(aws: FaultServer, tmp_path: Path, count: int) -> None:
    seed_estate(aws.url)
    single = cli(
        *SCOPE_ARGS,
        "--json",
        str(tmp_path / "single.json"),
        "--snapshot-out",
        str(tmp_path / "single-snap.json"),
    )
    assert single.exit_code == 1, single.stderr  # the estate has findings

    aws.clear_calls()
    shards = []
    for index in range(count):
        path = tmp_path / f"shard-{index}.json"
        result = cli(*SCOPE_ARGS, "--shard", f"{index}/{count}", "--snapshot-out", str(path))
        assert result.exit_code == 0, result.stderr  # every account-region of its share read
        assert f"shard {index}/{count}: read" in result.stderr
        assert not (tmp_path / "vpc-audit-report.html").exists()  # no report from a shard
        snap = read(path)
        assert snap["shard"] == {"index": index, "count": count}
        pairs = {(c["account_id"], c["region"]) for c in snap["coverage"]}
        assert all(shard_of(a, r, count) == index for a, r in pairs)
        shards.append(path)
    # Each shard assumes each account's role once; between them they read each pair once.
    calls = aws.calls
    assert calls["sts:AssumeRole"] == count * (len(DEMO_ACCOUNTS) - 1)
    assert calls["ec2:DescribeVpcs"] == len(DEMO_ACCOUNTS) * len(DEMO_REGIONS)

    merged = cli(
        "merge",
        *map(str, shards),
        "--json",
        str(tmp_path / "merged.json"),
        "--snapshot-out",
        str(tmp_path / "merged-snap.json"),
    )
    assert merged.exit_code == single.exit_code, merged.stderr

    one, whole = read(tmp_path / "single.json"), read(tmp_path / "merged.json")
    assert whole["findings"] == one["findings"]
    assert {f["id"] for f in whole["findings"]} == {f["id"] for f in one["findings"]}
    for key in ("scope", "coverage", "summary", "rules_evaluated"):
        assert whole[key] == one[key], key
    single_snap = read(tmp_path / "single-snap.json")
    merged_snap = read(tmp_path / "merged-snap.json")
    assert merged_snap["shard"] is None
    assert without_times(merged_snap) == without_times(single_snap)


def test_a_shard_whose_share_is_empty_writes_an_empty_snapshot(
    aws: FaultServer, tmp_path: Path
) -> None:
    # With 3 shards, none of the demo's four account-regions falls to shard 0 (see shard_of).
    assert all(shard_of(a, r, 3) != 0 for a in DEMO_ACCOUNTS for r in DEMO_REGIONS)
    result = cli(*SCOPE_ARGS, "--shard", "0/3", "--snapshot-out", str(tmp_path / "s.json"))
    assert result.exit_code == 0, result.stderr
    assert "no account-region fell to this shard" in result.stderr
    snap = read(tmp_path / "s.json")
    assert snap["coverage"] == [] and snap["vpcs"] == []
    assert snap["scope"]["accounts"] == sorted(DEMO_ACCOUNTS)  # the audit's scope, not the share


def test_a_shard_with_a_gap_exits_4(aws: FaultServer, tmp_path: Path) -> None:
    def deny_flow_logs(call: Call) -> Fault | None:
        if call.action == "DescribeFlowLogs":
            return Fault.error("UnauthorizedOperation", "denied", 403)
        return None

    aws.faults = deny_flow_logs
    try:
        result = cli(*SCOPE_ARGS, "--shard", "1/3", "--snapshot-out", str(tmp_path / "s.json"))
    finally:
        aws.faults = None
    assert result.exit_code == 4, result.stderr
    assert "3 could NOT be read" in result.stderr
    assert {c["status"] for c in read(tmp_path / "s.json")["coverage"]} == {"error"}


# --- the partition --------------------------------------------------------------------------


def test_the_partition_gives_each_pair_to_one_shard_and_is_balanced() -> None:
    pairs = [(f"{100000000000 + a:012d}", f"region-{r}") for a in range(200) for r in range(17)]
    for count in (1, 3, 10):
        sizes = Counter(shard_of(a, r, count) for a, r in pairs)
        assert set(sizes) == set(range(count))
        assert max(sizes.values()) <= 1.15 * len(pairs) / count
    # Deterministic: the same answer on every machine and every run.
    assert shard_of("123456789012", "us-east-1", 3) == 1


# --- what cannot be merged ----------------------------------------------------------------------


def shard_file(
    path: Path,
    shard: Shard | None,
    pairs: list[tuple[str, str]],
    partition: str = "aws",
    **changes: Any,
) -> Path:
    snap = Snapshot(
        scope=Scope(partition=partition, accounts=sorted({a for a, _ in pairs})),
        coverage=[Coverage(a, r, "ok") for a, r in pairs],
        vpcs=[Vpc(f"vpc-{a}-{r}", a, r, ["10.0.0.0/16"]) for a, r in pairs],
        shard=shard,
    )
    data = json.loads(dumps(snap))
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


def test_merge_of_files_made_by_hand(tmp_path: Path) -> None:
    first = shard_file(tmp_path / "0.json", Shard(0, 2), [(A, USE1)])
    second = shard_file(tmp_path / "1.json", Shard(1, 2), [(B, USE1), (B, EUW1)])
    result = cli("merge", str(first), str(second), "--json", str(tmp_path / "r.json"), "-q")
    assert result.exit_code == 0, result.stderr
    report = read(tmp_path / "r.json")
    assert [(c["account_id"], c["region"]) for c in report["coverage"]] == [
        (A, USE1),
        (B, EUW1),
        (B, USE1),
    ]
    assert report["scope"]["accounts"] == [A, B]


@pytest.mark.parametrize(
    ("files", "fragments"),
    [
        (
            [(Shard(0, 3), [(A, USE1)]), (Shard(1, 2), [(B, USE1)])],
            ["is shard 0/3 but", "is shard 1/2", "different splits"],
        ),
        (
            [(Shard(0, 2), [(A, USE1)]), (Shard(0, 2), [(B, USE1)]), (Shard(1, 2), [])],
            ["shard 0/2 is given twice"],
        ),
        ([(Shard(0, 3), [(A, USE1)]), (Shard(2, 3), [])], ["shard 1/3 missing"]),
        ([(Shard(0, 2), [(A, USE1)]), (None, [(B, USE1)])], ["is not a shard"]),
        ([(None, [(A, USE1)]), (None, [(A, USE1), (B, USE1)])], [f"both hold {A}/{USE1}"]),
    ],
    ids=["different-splits", "repeated", "missing", "shard-and-whole", "overlap"],
)
def test_snapshots_that_do_not_belong_together_are_a_one_line_error(
    tmp_path: Path, files: list[tuple[Shard | None, list[tuple[str, str]]]], fragments: list[str]
) -> None:
    paths = [
        shard_file(tmp_path / f"{i}.json", shard, pairs) for i, (shard, pairs) in enumerate(files)
    ]
    result = cli("merge", *map(str, paths), "--json", str(tmp_path / "r.json"))
    one_line_error(result, *fragments)
    assert not (tmp_path / "r.json").exists()


def test_other_partition_or_schema_version_is_a_one_line_error(tmp_path: Path) -> None:
    ours = shard_file(tmp_path / "0.json", Shard(0, 2), [(A, USE1)])
    china = shard_file(tmp_path / "1.json", Shard(1, 2), [(B, USE1)], partition="aws-cn")
    one_line_error(cli("merge", str(ours), str(china)), "partition aws-cn", "cannot be merged")
    future = shard_file(tmp_path / "2.json", Shard(1, 2), [(B, USE1)], schema_version=99)
    one_line_error(cli("merge", str(ours), str(future)), "schema_version 99 is not supported")


def test_merge_keeps_the_owner_view_first_whatever_the_order() -> None:
    """A VPC read by its owner and by a RAM participant: the owner's values win the merge."""
    owner = Snapshot(
        coverage=[Coverage(A, USE1, "ok")],
        vpcs=[Vpc("vpc-1", A, USE1, ["10.0.0.0/16"], tags={"Name": "owner"})],
    )
    participant = Snapshot(
        coverage=[Coverage(B, USE1, "ok")],
        vpcs=[Vpc("vpc-1", A, USE1, ["10.0.0.0/16"], tags={"Name": "participant"})],
    )
    for views in ([owner, participant], [participant, owner]):
        (vpc,) = merge_views(views).vpcs
        assert vpc.tags == {"Name": "owner"}


# --- shard options that make no sense ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "3/3", "--snapshot-out", "s.json"], "INDEX must be from 0 to 2"),
        (["--shard", "0/0", "--snapshot-out", "s.json"], "COUNT must be at least 1"),
        (["--shard", "one/3", "--snapshot-out", "s.json"], "is not INDEX/COUNT"),
        (["--shard", "0/3"], "--shard needs --snapshot-out"),
        (["--shard", "0/3", "--snapshot-out", "s.json", "--json", "r.json"], "drop --json"),
        (["--shard", "0/3", "--snapshot-out", "s.json", "--fail-on", "high"], "drop --fail-on"),
        (["--from-snapshot", "s.json", "--shard", "0/3"], "drop --shard"),
    ],
)
def test_shard_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: no AWS call
    result = cli(*args) if "--from-snapshot" in args else cli(*SCOPE_ARGS, *args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.stderr
    assert not list(tmp_path.iterdir())
