"""What NAT gateways processed over the last 30 days, from CloudWatch: the egress rules' cost.

One GetMetricData per account-region (two queries per NAT gateway, up to 500 queries a call,
so a call covers 250 gateways; the answer's pages are read through NextToken). Only the
account-regions that own a working NAT gateway ask, and `--no-cost` skips it. A refusal only
leaves the bytes unknown (ec2.read_region notes it): the cost is a detail, not the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.model import DataProcessed, NatGateway

DAYS = 30
NAMESPACE = "AWS/NATGateway"
# What the gateway received from either side: AWS charges NAT data processing both ways, and
# what it receives is what it processes (BytesOut* are the same bytes on their way out).
METRICS = ("BytesInFromSource", "BytesInFromDestination")
MAX_QUERIES = 500  # GetMetricData's limit per call
DAY = 86_400  # a multiple of 3600, as CloudWatch asks of periods that start 15+ days ago
SUBJECT = "NAT gateway data processed (cloudwatch:GetMetricData)"


def period(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last DAYS days, ending on the last full hour (CloudWatch answers aligned periods
    fastest)."""
    end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(days=DAYS), end


def nat_data_processed(
    cloudwatch: Callable[[], Any], nat_ids: Sequence[str], now: datetime | None = None
) -> dict[str, DataProcessed]:
    """Each gateway's bytes processed over `period`, by id; a gateway without data points has
    0 bytes and 0 data points, one that CloudWatch did not answer in full is left out (unknown)."""
    start, end = period(now)
    client = cloudwatch()
    queries = [
        {
            "Id": f"n{i}_{m}",
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [{"Name": "NatGatewayId", "Value": nat_id}],
                },
                "Period": DAY,
                "Stat": "Sum",
            },
        }
        for i, nat_id in enumerate(nat_ids)
        for m, metric in enumerate(METRICS)
    ]
    values: dict[str, list[float]] = {}
    failed: set[str] = set()  # queries CloudWatch did not answer in full: their bytes are unknown
    for i in range(0, len(queries), MAX_QUERIES):
        batch = {"MetricDataQueries": queries[i : i + MAX_QUERIES]}
        token: dict[str, str] = {}
        while True:
            page = client.get_metric_data(**batch, StartTime=start, EndTime=end, **token)
            for result in page.get("MetricDataResults", []):
                values.setdefault(result["Id"], []).extend(result.get("Values", []))
                # PartialData: the rest comes on the next page (read below); anything else
                # (InternalError, Forbidden) means the sum would be short.
                if result.get("StatusCode", "Complete") not in ("Complete", "PartialData"):
                    failed.add(result["Id"])
            if not page.get("NextToken"):
                break
            token = {"NextToken": page["NextToken"]}
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    found = {}
    for i, nat_id in enumerate(nat_ids):
        ids = [f"n{i}_{m}" for m in range(len(METRICS))]
        if failed.intersection(ids):
            continue  # not read: unknown, never 0
        points = [v for query in ids for v in values.get(query, [])]
        found[nat_id] = DataProcessed(
            round(sum(points)), start.strftime(stamp), end.strftime(stamp), len(points)
        )
    return found


def set_data_processed(nats: list[NatGateway], found: dict[str, DataProcessed] | None) -> None:
    for nat in nats:  # None: the read failed, and the bytes stay unknown
        nat.data_processed = None if found is None else found.get(nat.id)
