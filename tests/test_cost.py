"""The cost on egress findings: NAT gateway bytes from CloudWatch (moto), prices, evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from auditor.cli import main
from auditor.collect import Request, collect
from auditor.collect.metrics import MAX_QUERIES, nat_data_processed, period
from auditor.model import DataProcessed
from auditor.serial import dumps, load_snapshot
from tests.faults import Fault, FaultServer

USE1 = "us-east-1"
GB = 2**30
METRICS = "cloudwatch:GetMetricData"


def seed_nats(client: Any) -> tuple[str, str]:
    """Two working NAT gateways in one VPC."""
    vpc_id = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    nats = []
    for cidr in ("10.0.1.0/24", "10.0.2.0/24"):
        sub = client.create_subnet(VpcId=vpc_id, CidrBlock=cidr)["Subnet"]["SubnetId"]
        eip = client.allocate_address(Domain="vpc")["AllocationId"]
        nat = client.create_nat_gateway(SubnetId=sub, AllocationId=eip)["NatGateway"]
        nats.append(nat["NatGatewayId"])
    return nats[0], nats[1]


def put_bytes(nat_id: str, metric: str, value: float, days_ago: float) -> None:
    boto3.client("cloudwatch", region_name=USE1).put_metric_data(
        Namespace="AWS/NATGateway",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "NatGatewayId", "Value": nat_id}],
                "Value": value,
                "Unit": "Bytes",
                "Timestamp": datetime.now(UTC) - timedelta(days=days_ago),
            }
        ],
    )


def calls(aws: FaultServer) -> int:
    return sum(n for key, n in aws.calls.items() if key.endswith(":GetMetricData"))


# --- the collector ---------------------------------------------------------------------------


def test_collector_reads_both_directions_and_a_nat_without_data_is_zero(
    aws: FaultServer, tmp_path: Path
) -> None:
    busy, idle = seed_nats(boto3.client("ec2", region_name=USE1))
    put_bytes(busy, "BytesInFromSource", 3 * GB, days_ago=2)
    put_bytes(busy, "BytesInFromDestination", 5 * GB, days_ago=10)
    put_bytes(busy, "BytesInFromDestination", 2 * GB, days_ago=40)  # before the period
    put_bytes(busy, "BytesOutToDestination", 7 * GB, days_ago=2)  # the same bytes, going out
    aws.clear_calls()
    snap = collect(Request(regions=(USE1,)))
    nats = {n.id: n for n in snap.nat_gateways}
    data = nats[busy].data_processed
    assert data is not None and data.bytes == 8 * GB and data.data_points == 2
    start, end = (datetime.fromisoformat(t) for t in (data.start, data.end))
    assert end - start == timedelta(days=30) and end <= datetime.now(UTC)
    assert nats[idle].data_processed == DataProcessed(0, data.start, data.end, 0)
    assert calls(aws) == 1  # one call for both gateways
    assert not snap.coverage_notes
    # And through a saved snapshot.
    (tmp_path / "snap.json").write_text(dumps(snap))
    again = load_snapshot(tmp_path / "snap.json")
    assert {n.id: n.data_processed for n in again.nat_gateways} == {
        n.id: n.data_processed for n in snap.nat_gateways
    }


def test_no_cloudwatch_call_where_there_is_no_nat_gateway(aws: FaultServer) -> None:
    boto3.client("ec2", region_name=USE1).create_vpc(CidrBlock="10.0.0.0/16")
    aws.clear_calls()
    collect(Request(regions=(USE1,)))
    assert calls(aws) == 0


def test_refused_metrics_are_a_coverage_note_and_unknown_bytes(aws: FaultServer) -> None:
    seed_nats(boto3.client("ec2", region_name=USE1))
    aws.faults = lambda call: (
        Fault.error("AccessDenied", "not authorized to perform: cloudwatch:GetMetricData")
        if call.action == "GetMetricData"
        else None
    )
    snap = collect(Request(regions=(USE1,)))
    assert [c.status for c in snap.coverage] == ["ok"]
    assert all(n.data_processed is None for n in snap.nat_gateways)
    (note,) = snap.coverage_notes
    assert "GetMetricData" in note.subject
    assert note.reason.startswith("AccessDenied on GetMetricData")


def test_no_cost_makes_no_cloudwatch_call(aws: FaultServer) -> None:
    seed_nats(boto3.client("ec2", region_name=USE1))
    aws.clear_calls()
    snap = collect(Request(regions=(USE1,), cost=False))
    assert calls(aws) == 0 and aws.calls["ec2:DescribeNatGateways"] == 1
    assert all(n.data_processed is None for n in snap.nat_gateways)
    assert not snap.coverage_notes


def test_the_cli_no_cost_flag_reaches_the_collector(aws: FaultServer, tmp_path: Path) -> None:
    seed_nats(boto3.client("ec2", region_name=USE1))
    for flags, expected in (([], 1), (["--no-cost"], 0)):
        aws.clear_calls()
        out = tmp_path / f"r{expected}.json"
        args = ["--region", USE1, "--json", str(out), "-qq", "--fail-on", "none", *flags]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert calls(aws) == expected


class Pages:
    """A CloudWatch client that answers in pages and records each call's queries."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def get_metric_data(self, **kw: Any) -> dict[str, Any]:
        ids = [q["Id"] for q in kw["MetricDataQueries"]]
        self.asked.append(ids)
        if "NextToken" not in kw:  # the first page: one value each, and more to come
            return {
                "MetricDataResults": [{"Id": i, "Values": [1.0]} for i in ids],
                "NextToken": "t",
            }
        return {"MetricDataResults": [{"Id": i, "Values": [2.0, 3.0]} for i in ids]}


def test_500_queries_a_call_and_every_page_read() -> None:
    pages = Pages()
    nat_ids = [f"nat-{i}" for i in range(300)]
    found = nat_data_processed(lambda: pages, nat_ids, datetime(2026, 12, 4, 19, 34, tzinfo=UTC))
    assert [len(ids) for ids in pages.asked] == [MAX_QUERIES, MAX_QUERIES, 100, 100]
    assert found["nat-299"] == DataProcessed(12, "2026-11-04T19:00:00Z", "2026-12-04T19:00:00Z", 6)
    assert period(datetime(2026, 12, 4, 19, 34, tzinfo=UTC))[1].minute == 0
