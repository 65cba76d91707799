"""VPC flow logs: whether a working flow log records each VPC's traffic."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from auditor.model import Finding, FlowLog, Vpc
from auditor.net import Topology
from auditor.rules.base import Found, label, rule


def flow_log_row(log: FlowLog) -> dict[str, str]:
    return {
        "flow_log": log.id,
        "status": log.status,
        "deliver_logs_status": log.deliver_logs_status or "",
        "traffic_type": log.traffic_type,
        "destination_type": log.destination_type,
    }


def delivering(log: FlowLog) -> bool:
    return (log.deliver_logs_status or "").upper() != "FAILED"


@rule("vpc-flow-logs-off")
def flow_logs_off(topo: Topology, found: Found) -> Iterator[Finding]:
    """VPCs whose traffic no working VPC-level flow log records. Subnet or interface flow logs
    cover only part of a VPC (and none of what is added later), so they are listed, not counted."""
    logs: dict[str, list[FlowLog]] = defaultdict(list)
    for log in topo.snapshot.flow_logs:
        if log.status.upper() == "ACTIVE":
            logs[log.resource_id].append(log)
    enis: dict[str, list[str]] = defaultdict(list)
    for eni in topo.snapshot.network_interfaces:
        enis[eni.vpc_id].append(eni.id)
    for vpc in topo.snapshot.vpcs:
        if not enis.get(vpc.id) and not topo.settings.include_empty:
            continue
        on_vpc = logs.get(vpc.id, [])
        if any(delivering(log) for log in on_vpc):
            continue
        if on_vpc:
            yield delivery_failed(found, vpc, on_vpc)
            continue
        partial = [
            {"resource": label(s.id, s.tags), "flow_log": log.id}
            for s in topo.subnets_by_vpc.get(vpc.id, [])
            for log in logs.get(s.id, [])
            if delivering(log)
        ] + [
            {"resource": eni_id, "flow_log": log.id}
            for eni_id in enis.get(vpc.id, [])
            for log in logs.get(eni_id, [])
            if delivering(log)
        ]
        covered = (
            f" Only {len(partial)} subnet or interface flow log(s) exist "
            f"({', '.join(p['resource'] for p in partial[:5])}{'…' if len(partial) > 5 else ''}), "
            f"which cover part of the VPC and nothing created later."
            if partial
            else ""
        )
        bucket = f"arn:{topo.snapshot.scope.partition}:s3:::BUCKET"
        yield found(
            account_id=vpc.account_id,
            region=vpc.region,
            resource_id=vpc.id,
            vpc_id=vpc.id,
            message=(
                f"VPC {label(vpc.id, vpc.tags)} has {len(enis.get(vpc.id, []))} network "
                f"interface(s) but no flow log, so its accepted and rejected traffic is not "
                f"recorded for incident investigation or troubleshooting.{covered}"
            ),
            remediation=(
                f"aws ec2 create-flow-logs --resource-type VPC --resource-ids {vpc.id} "
                f"--traffic-type ALL --log-destination-type s3 --log-destination {bucket} "
                f"--region {vpc.region} (or a CloudWatch Logs group with "
                f"--deliver-logs-permission-arn)"
            ),
            evidence={
                "network_interfaces": len(enis.get(vpc.id, [])),
                "vpc_flow_logs": [],
                "partial_coverage": partial,
            },
        )


def delivery_failed(found: Found, vpc: Vpc, logs: list[FlowLog]) -> Finding:
    # The snapshot lacks DeliverLogsErrorMessage and LogDestination (DescribeFlowLogs has both),
    # so the message cannot say which of role, bucket policy or throttling is to blame.
    ids = ", ".join(log.id for log in logs)
    return found(
        account_id=vpc.account_id,
        region=vpc.region,
        resource_id=vpc.id,
        vpc_id=vpc.id,
        detail="delivery-failed",
        message=(
            f"VPC {label(vpc.id, vpc.tags)} has flow log(s) {ids}, but log delivery FAILED: no "
            f"records reach the destination, so the VPC's traffic is not being recorded."
        ),
        remediation=(
            f"aws ec2 describe-flow-logs --flow-log-ids {logs[0].id} --region {vpc.region} "
            f"--query 'FlowLogs[].DeliverLogsErrorMessage' shows why: 'Access error' means the "
            f"IAM role (CloudWatch Logs) or bucket policy (S3) does not let the flow log write; "
            f"'Rate limited' means CloudWatch Logs throttling or the log group limit. Fix it, or "
            f"delete the flow log and create a new one (flow logs cannot be modified)."
        ),
        evidence={"vpc_flow_logs": [flow_log_row(log) for log in logs], "partial_coverage": []},
    )
