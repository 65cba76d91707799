"""OCSF output: every document is an OCSF 1.5.0 Detection Finding, checked with py-ocsf-models.

py-ocsf-models (Prowler's pydantic models of OCSF 1.5.0) ignores fields it does not know, so a
document must also come back unchanged from the model: no unknown or misnamed field, no value
of the wrong type, nothing the model had to fill in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import py_ocsf_models
import pytest
from click.testing import CliRunner, Result
from py_ocsf_models.events.findings.activity_id import ActivityID
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.events.findings.status_id import StatusID

from auditor.cli import main
from auditor.report.formats.ocsf import OCSF_VERSION, render_ocsf
from tests.builders import R1, A
from tests.reports import finding_data, report_data, report_of
from tests.test_formats import EVIL, write_snapshot


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def valid(document: dict[str, Any]) -> DetectionFinding:
    """The document as the OCSF model reads it; it must say exactly what the model says."""
    model = DetectionFinding.model_validate(document)
    assert model.model_dump(mode="json", exclude_none=True) == document
    assert document["class_uid"] == 2004 and document["category_uid"] == 2
    assert document["type_uid"] == document["class_uid"] * 100 + document["activity_id"]
    assert document["activity_name"] == ActivityID(document["activity_id"]).name
    assert document["severity"] == SeverityID(document["severity_id"]).name
    assert document["status"] == StatusID(document["status_id"]).name
    assert document["metadata"]["version"] == OCSF_VERSION
    return model


def offline(tmp_path: Path, *args: str, name: str = "prod") -> tuple[list[Any], dict[str, Any]]:
    snap = write_snapshot(tmp_path / "s.json", name)
    result = run(
        "--from-snapshot", str(snap),
        "--ocsf", str(tmp_path / "f.json"),
        "--json", str(tmp_path / "r.json"),
        *args,
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    assert "wrote OCSF findings" in result.stderr
    return json.loads((tmp_path / "f.json").read_text()), json.loads(
        (tmp_path / "r.json").read_text()
    )


def test_targets_the_ocsf_version_of_the_models() -> None:
    assert OCSF_VERSION == py_ocsf_models.OCSF_VERSION == "1.5.0"


def test_each_finding_is_a_valid_detection_finding(tmp_path: Path) -> None:
    documents, report = offline(tmp_path)
    assert [d["finding_info"]["uid"] for d in documents] == [f["id"] for f in report["findings"]]
    for document, finding in zip(documents, report["findings"], strict=True):
        valid(document)
        assert document["activity_name"] == "Create" and document["status"] == "New"
        assert document["finding_info"]["title"] == finding["title"]
        assert document["finding_info"]["desc"] == finding["message"]
        assert document["finding_info"]["analytic"]["uid"] == finding["rule_id"]
        assert document["metadata"]["event_code"] == finding["rule_id"]
        fix = "\n\n".join([finding["remediation"], *finding["remediation_commands"]])
        assert document["remediation"] == {"desc": fix}
        assert document["time_dt"] == report["generated_at"]
        product = document["metadata"]["product"]
        assert product["name"] == "vpc-audit" and product["version"] == report["tool_version"]
        assert document["cloud"]["provider"] == "AWS" and document["cloud"]["region"] == R1
        assert document["cloud"]["account"]["uid"] == A
        (resource,) = document["resources"]
        assert resource["name"] == finding["resource_id"] and resource["region"] == R1
        assert resource["cloud_partition"] == "aws"
        assert "unmapped" not in document  # no baseline in play
    route_table = next(d for d in documents if d["metadata"]["event_code"] == "s3-egress-via-nat")
    assert route_table["resources"][0]["uid"] == f"arn:aws:ec2:{R1}:{A}:route-table/rtb-1"
    assert route_table["resources"][0]["type"] == "AwsEc2RouteTable"
    assert route_table["resources"][0]["data"] == {"vpc_id": "vpc-1"}


def test_time_is_the_reports_time_in_milliseconds(tmp_path: Path) -> None:
    documents, _ = offline(tmp_path)
    model = valid(documents[0])
    assert model.time_dt is not None
    assert documents[0]["time"] == int(model.time_dt.timestamp()) * 1000


@pytest.mark.parametrize(
    ("severity", "severity_id", "caption"),
    [
        ("info", 1, "Informational"),
        ("low", 2, "Low"),
        ("medium", 3, "Medium"),
        ("high", 4, "High"),
        ("critical", 5, "Critical"),
    ],
)
def test_severities(severity: str, severity_id: int, caption: str) -> None:
    (document,) = json.loads(render_ocsf(report_of(hand_report(severity=severity))))
    valid(document)
    assert (document["severity_id"], document["severity"]) == (severity_id, caption)


def test_suppressed_and_resolved_findings_and_other_partitions() -> None:
    report = hand_report(suppressed=True, suppression_reason="bastion", change="unchanged")
    report["scope"] = {"partition": "aws-cn", "organization_id": "o-abc"}
    report["baseline"] = {
        "source": "last.json",
        "generated_at": "2026-01-01T03:04:05Z",
        "new": 0,
        "unchanged": 0,
        "resolved": 1,
        "not_rechecked": 0,
    }
    report["resolved"] = [
        {
            "id": "2" * 16,
            "rule_id": "r",
            "severity": "high",
            "title": "gone",
            "account_id": A,
            "region": "cn-north-1",
            "resource_type": "vpc-endpoint",
            "resource_id": "vpce-1",
        }
    ]
    suppressed, resolved = json.loads(render_ocsf(report_of(report)))
    valid(suppressed)
    valid(resolved)
    assert (suppressed["status"], suppressed["status_detail"]) == ("Suppressed", "bastion")
    assert suppressed["activity_name"] == "Create" and suppressed["type_uid"] == 200401
    assert suppressed["unmapped"] == {"change": "unchanged"}
    assert suppressed["cloud"]["org"] == {"uid": "o-abc"}
    assert suppressed["resources"][0]["uid"] == f"arn:aws-cn:ec2:cn-north-1:{A}:vpc/vpc-9"
    assert (resolved["activity_name"], resolved["status"]) == ("Close", "Resolved")
    assert resolved["type_uid"] == 200403
    assert resolved["finding_info"] == {
        "uid": "2" * 16,
        "title": "gone",
        "desc": "gone",
        "types": suppressed["finding_info"]["types"],
        "analytic": {"uid": "r", "name": "r", "type_id": 1, "type": "Rule"},
    }
    assert resolved["resources"][0]["type"] == "Other"
    assert "remediation" not in resolved


def test_hostile_names_stay_data(tmp_path: Path) -> None:
    documents, _ = offline(tmp_path, name=EVIL)
    for document in documents:
        valid(document)
    assert any("HYPERLINK" in d["finding_info"]["desc"] for d in documents)


def test_merge_writes_ocsf(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "s.json")
    result = run("merge", str(snap), "--ocsf", "-", "-q")
    assert result.exit_code == 1, result.stderr
    for document in json.loads(result.stdout):
        valid(document)


def hand_report(**finding: Any) -> dict[str, Any]:
    """A report's JSON form with one finding: an info finding on a VPC unless told otherwise."""
    base = finding_data(
        severity="info",
        account_id=A,
        region="cn-north-1",
        resource_type="vpc",
        resource_id="vpc-9",
        vpc_id="vpc-9",
    )
    return report_data({**base, **finding}, generated_at="2026-01-02T03:04:05Z")
