"""The cost on egress findings: NAT gateway bytes from CloudWatch (moto), prices, evidence."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.collect import Request, collect
from auditor.collect.metrics import MAX_QUERIES, nat_data_processed, period
from auditor.model import DataProcessed, Finding, RuleSettings, Snapshot
from auditor.policy import AuditPolicy, load_policy, shipped_prices
from auditor.rules import REGISTRY, evaluate, run_rules
from auditor.serial import dumps, load_snapshot
from tests.builders import R1, route, snapshot, subnet, table, vpc
from tests.faults import Fault, FaultServer
from tests.hub import hub_estate
from tests.test_report_template import SCHEMA_PATH

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


def test_live_reach_reads_no_metrics(aws: FaultServer) -> None:
    """A path question needs no cost: `vpc-audit reach` live makes no GetMetricData call."""
    ec2 = boto3.client("ec2", region_name=USE1)
    busy, _ = seed_nats(ec2)
    put_bytes(busy, "BytesInFromSource", GB, days_ago=1)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    aws.clear_calls()
    args = ["reach", subnet, "s3", "--port", "443", "--region", USE1]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1, 3), result.output
    assert aws.calls["ec2:DescribeNatGateways"] == 1 and calls(aws) == 0


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


def test_a_query_cloudwatch_did_not_answer_in_full_leaves_the_bytes_unknown() -> None:
    class Refusing(Pages):
        def get_metric_data(self, **kw: Any) -> dict[str, Any]:
            page = super().get_metric_data(**kw)
            for result in page["MetricDataResults"]:
                result["StatusCode"] = "PartialData" if "NextToken" in page else "Complete"
                if result["Id"] == "n1_0":
                    result["StatusCode"] = "Forbidden"
            return page

    found = nat_data_processed(lambda: Refusing(), ["nat-0", "nat-1"], datetime.now(UTC))
    assert found["nat-0"].bytes == 12
    assert "nat-1" not in found  # unknown, never 0


# --- the rules' evidence ---------------------------------------------------------------------

WINDOW = ("2026-11-04T19:00:00Z", "2026-12-04T19:00:00Z")


def processed(snap: Snapshot, nat_id: str, gb: float, points: int = 30) -> Snapshot:
    for nat in snap.nat_gateways:
        if nat.id == nat_id:
            nat.data_processed = DataProcessed(int(gb * GB), *WINDOW, points)
    return snap


def private(nat: str = "nat-1", region: str = R1) -> Snapshot:
    return snapshot(
        vpc("vpc-1", "10.0.0.0/16", region=region),
        subnet("subnet-a", "vpc-1", "10.0.1.0/24", region=region),
        table("rtb-1", "vpc-1", route("0.0.0.0/0", nat), subnets=("subnet-a",), region=region),
    )


def s3(snap: Snapshot, settings: RuleSettings | None = None) -> Finding:
    (finding,) = run_rules(snap, only=["s3-egress-via-nat"], settings=settings)
    return finding


TABLE = RuleSettings(prices=(shipped_prices(),))


def cost(finding: Finding) -> dict[str, Any]:
    value = finding.evidence["cost"]
    assert isinstance(value, dict)
    return value


def test_cost_is_the_nat_bytes_at_the_region_price() -> None:
    found = cost(s3(processed(private(), "nat-1", 1000), TABLE))
    assert found["usd"] == 45.0  # 1,000 GB at 0.045
    assert found["basis"] == "30 days"
    assert found["period"] == ["/".join(WINDOW)]
    assert found["label"].startswith("upper bound of what a gateway endpoint saves")
    assert found["nat_gateways"] == [
        {"id": "nat-1", "region": R1, "bytes": 1000 * GB, "usd": 45.0, "gb": 1000.0}
        | {"usd_per_gb": 0.045}
    ]
    (source,) = found["prices"]
    assert source == {"source": shipped_prices().source, "as_of": shipped_prices().as_of}
    assert "transit_gateways" not in found


def test_a_nat_without_data_costs_nothing_and_says_so() -> None:
    found = cost(s3(processed(private(), "nat-1", 0, points=0), TABLE))
    assert found["usd"] == 0.0
    (row,) = found["nat_gateways"]
    assert (row["bytes"], row["usd"], row["note"]) == (0, 0.0, "no data in 30 days")


def test_a_nat_not_read_is_unknown_not_zero() -> None:
    found = cost(s3(private(), TABLE))  # as after --no-cost, a refusal, an older snapshot
    assert found["usd"] is None and found["period"] == [] and found["prices"] == []
    (row,) = found["nat_gateways"]
    assert row["bytes"] is None and row["usd"] is None and row["note"].startswith("unknown")


def test_a_region_without_a_price_is_unknown() -> None:
    snap = processed(private(region="xx-nowhere-1"), "nat-1", 10)
    found = cost(s3(snap, TABLE))
    assert found["usd"] is None
    (row,) = found["nat_gateways"]
    assert row["gb"] == 10.0 and "no NAT gateway price for xx-nowhere-1" in row["note"]
    # Without any price table (rules run without a policy's settings), likewise.
    assert cost(s3(processed(private(), "nat-1", 10)))["usd"] is None


def test_a_hub_path_adds_the_transit_gateway_processing_once() -> None:
    snap = processed(snapshot(*hub_estate()), "nat-eg", 2000)
    (finding,) = run_rules(snap, only=["s3-egress-via-nat"], settings=TABLE)
    found = cost(finding)
    assert found["transit_gateways"] == [
        {"id": "tgw-1", "region": R1, "nat_gateway": "nat-eg", "gb": 2000.0}
        | {"usd_per_gb": 0.02, "usd": 40.0}
    ]
    assert found["usd"] == 90.0 + 40.0  # NAT 2,000 GB at 0.045, the hub's at 0.02


def test_the_policy_overrides_and_adds_prices(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\npricing:\n  as_of: 2026-11-30\n"
        "  nat_gateway_per_gb: {us-east-1: 0.05, xx-nowhere-1: 0.1}\n"
    )
    settings = load_policy(policy, REGISTRY).settings()
    found = cost(s3(processed(private(), "nat-1", 100), settings))
    assert found["usd"] == 5.0
    assert found["prices"] == [{"source": "audit policy (pricing)", "as_of": "2026-11-30"}]
    # A region the policy adds; the table still prices the hub.
    snap = processed(snapshot(*hub_estate()), "nat-eg", 100)
    (hub,) = run_rules(snap, only=["s3-egress-via-nat"], settings=settings)
    assert cost(hub)["usd"] == 5.0 + 2.0
    assert len(cost(hub)["prices"]) == 2
    other = processed(private(region="xx-nowhere-1"), "nat-1", 100)
    assert cost(s3(other, settings))["usd"] == 10.0


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("nat_gateway_per_gb: {us-east-1: cheap}", "is not a price"),
        ("nat_gateway_per_gb: {us-east-1: -1}", "is not a price"),
        ("nat_gateway_per_gb: {us-east-1: true}", "is not a price"),
        ("nat_gateway_per_gb: {us-east-1: .nan}", "is not a price"),
        ("nat_gateway_per_gb: {us-east-1: .inf}", "is not a price"),
        ("nat_gateway_per_gb: {us-east-1: 450}", "is not a price"),
        (f"nat_gateway_per_gb: {{us-east-1: {10**400}}}", "is not a price"),
        ("transit_gateway_per_gb: {useast: 0.02}", "is not a region name"),
        ("as_of: soon", "is not a YYYY-MM-DD date"),
        ("per_gb: {us-east-1: 0.02}", "unknown field 'per_gb'"),
    ],
)
def test_bad_pricing_is_an_error_naming_it(tmp_path: Path, text: str, error: str) -> None:
    from auditor.errors import InputError

    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\npricing:\n  {text}\n")
    with pytest.raises(InputError, match=error):
        load_policy(policy, REGISTRY)


def test_the_shipped_table_has_a_date_a_source_and_plausible_prices() -> None:
    table_ = shipped_prices()
    assert datetime.strptime(table_.as_of, "%Y-%m-%d")
    assert "aws.amazon.com/vpc/pricing" in table_.source
    assert table_.nat_gateway_per_gb[USE1] == 0.045 and table_.transit_gateway_per_gb[USE1] == 0.02
    prices = [*table_.nat_gateway_per_gb.values(), *table_.transit_gateway_per_gb.values()]
    assert all(0 < p < 0.2 for p in prices)
    assert AuditPolicy().settings().prices == (table_,)


def test_json_report_carries_the_cost_and_validates(tmp_path: Path) -> None:
    snap = processed(private(), "nat-1", 512)
    snap.nat_gateways.append(dataclasses.replace(snap.nat_gateways[0], id="nat-2"))
    (tmp_path / "snap.json").write_text(dumps(snap))
    out = tmp_path / "report.json"
    args = ["--from-snapshot", str(tmp_path / "snap.json"), "--json", str(out), "-qq"]
    result = CliRunner().invoke(main, [*args, "--fail-on", "none"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    (finding,) = [f for f in report["findings"] if f["rule_id"] == "s3-egress-via-nat"]
    assert finding["evidence"]["cost"]["usd"] == 23.04  # 512 GB at 0.045
    assert finding["evidence"]["cost"]["prices"][0]["as_of"] == shipped_prices().as_of


def test_evaluate_uses_the_table_without_a_policy() -> None:
    result = evaluate(processed(private(), "nat-1", 100))
    (finding,) = [f for f in result.findings if f.rule_id == "s3-egress-via-nat"]
    assert cost(finding)["usd"] == 4.5
