"""CSV, JUnit XML, Markdown and ASFF outputs, from offline runs on hand-built snapshots."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.model import CoverageNote, NatGateway, SecurityGroup, SecurityGroupRule
from auditor.report import Report
from auditor.report.formats import (
    FORMATS,
    RenderContext,
    Renderings,
    by_name,
    md_text,
    render_asff,
    render_junit,
)
from auditor.report.formats import json as json_format
from auditor.serial import dumps
from tests.builders import R1, A, route, snapshot, subnet, table, vpc
from tests.reports import finding_data, report_data, report_of

EVIL = '=HYPERLINK("http://evil")\r\n<script>alert(1)</script> [x](http://e) "q\''


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_snapshot(path: Path, name: str = "prod") -> Path:
    """Two findings on one route table (S3 and DynamoDB through NAT), one open admin port."""
    snap = snapshot(
        NatGateway("nat-1", A, R1, "vpc-1"),
        vpc("vpc-1", "10.0.0.0/16", tags={"Name": name}),
        subnet("subnet-1", "vpc-1", "10.0.1.0/24"),
        table("rtb-1", "vpc-1", route("0.0.0.0/0", "nat-1"), main=True, tags={"Name": name}),
        SecurityGroup(
            "sg-1",
            A,
            R1,
            "vpc-1",
            name="admin",
            ingress=[SecurityGroupRule("tcp", 22, 22, cidrs=["0.0.0.0/0"])],
            tags={"Name": name},
        ),
    )
    path.write_text(dumps(snap))
    return path


def offline(tmp_path: Path, *args: str, name: str = "prod") -> tuple[Result, dict[str, Any]]:
    snap = write_snapshot(tmp_path / "s.json", name)
    result = run("--from-snapshot", str(snap), "--json", str(tmp_path / "r.json"), *args)
    return result, json.loads((tmp_path / "r.json").read_text())


def test_csv_has_one_row_per_finding(tmp_path: Path) -> None:
    result, report = offline(tmp_path, "--csv", str(tmp_path / "r.csv"))
    assert result.exit_code == 1, result.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(), newline="")))
    assert [r["id"] for r in rows] == [f["id"] for f in report["findings"]]
    assert {r["rule_id"] for r in rows} == {f["rule_id"] for f in report["findings"]}
    first = rows[0]
    assert first["severity"] == report["findings"][0]["severity"]
    assert first["suppressed"] == "false"
    assert first["change"] == ""  # no baseline in play
    assert first["remediation"].startswith(report["findings"][0]["remediation"][:20])
    assert "wrote CSV report" in result.stderr


def test_csv_has_the_remediation_commands_one_per_line(tmp_path: Path) -> None:
    result, report = offline(tmp_path, "--csv", str(tmp_path / "r.csv"))
    assert result.exit_code == 1, result.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(), newline="")))
    cells = {r["id"]: r["remediation_commands"] for r in rows}
    commands = {f["id"]: f["remediation_commands"] for f in report["findings"]}
    assert any(commands.values())  # the S3 endpoint's create-vpc-endpoint
    for finding_id, entries in commands.items():
        assert cells[finding_id] == "\n".join(entries)
    (command,) = next(c for c in commands.values() if c)
    assert command.startswith("# in account ") and "\naws ec2 " in command


def test_csv_neutralises_formulas_and_keeps_line_breaks_quoted(tmp_path: Path) -> None:
    result, report = offline(tmp_path, "--csv", str(tmp_path / "r.csv"), name=EVIL)
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(), newline="")))
    assert len(rows) == len(report["findings"])
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    # the hostile text is there, as data
    assert any("HYPERLINK" in r["message"] for r in rows)


def test_junit_suite_per_rule_with_meaningful_counts(tmp_path: Path) -> None:
    result, report = offline(tmp_path, "--junit", str(tmp_path / "r.xml"))
    assert result.exit_code == 1
    root = ET.fromstring((tmp_path / "r.xml").read_text())
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == set(report["rules_evaluated"]) | {"coverage"}
    failing = {f["rule_id"] for f in report["findings"]}
    for name, suite in suites.items():
        cases = suite.findall("testcase")
        failures = suite.findall("testcase/failure")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == len(failures)
        if name in failing:
            assert len(failures) == report["summary"]["by_rule"][name]
            assert all(c.get("name", "").startswith(f"{A}/{R1}/") for c in cases)
        elif name != "coverage":
            assert [c.get("name") for c in cases] == ["no findings"]
            assert not failures
    assert int(root.get("failures", "-1")) == report["summary"]["total"]
    assert int(root.get("tests", "-1")) == sum(int(s.get("tests", "0")) for s in suites.values())
    coverage = suites["coverage"]
    assert [c.get("name") for c in coverage.findall("testcase")] == [f"{A}/{R1}"]
    assert coverage.get("errors") == "0"


def test_junit_suppressed_is_skipped_and_gap_is_an_error(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nsuppressions:\n  - rule: sg-open-admin-port\n    reason: bastion\n"
    )
    snap = write_snapshot(tmp_path / "s.json")
    data = json.loads(snap.read_text())
    data["coverage"].append(
        {"account_id": "999999999999", "region": R1, "status": "error", "error": "AccessDenied"}
    )
    snap.write_text(json.dumps(data))
    result = run(
        "--from-snapshot", str(snap), "--policy", str(policy), "--junit", str(tmp_path / "r.xml")
    )
    assert result.exit_code == 5, result.stderr
    root = ET.fromstring((tmp_path / "r.xml").read_text())
    admin = next(s for s in root.findall("testsuite") if s.get("name") == "sg-open-admin-port")
    assert admin.get("skipped") == "1" and admin.get("failures") == "0"
    assert "bastion" in (admin.find("testcase/skipped").get("message") or "")  # type: ignore[union-attr]
    coverage = next(s for s in root.findall("testsuite") if s.get("name") == "coverage")
    assert coverage.get("errors") == "1"
    assert "AccessDenied" in (coverage.find("testcase/error").text or "")  # type: ignore[union-attr]


def test_junit_several_findings_on_one_resource_have_distinct_names() -> None:
    finding = finding_data(account_id=A, region=R1, message="m\x00\x1b")
    report = report_data(finding, {**finding, "id": "2" * 16}, rules_evaluated=["r"])
    root = ET.fromstring(render_junit(report_of(report)))  # control characters do not break the XML
    names = [c.get("name") for c in root.iter("testcase") if c.get("classname") == "r"]
    assert len(set(names)) == 2


def test_markdown_groups_findings_by_severity(tmp_path: Path) -> None:
    result, report = offline(tmp_path, "--markdown", str(tmp_path / "r.md"))
    assert result.exit_code == 1
    text = (tmp_path / "r.md").read_text()
    assert text.startswith(f"### vpc-audit {A}: ")
    for finding in report["findings"]:
        assert f"`{finding['resource_id']}`" in text
        assert md_text(finding["title"]) in text
    high = text.index("#### High (1)")
    medium = text.index("#### Medium (2)")
    assert high < medium
    assert text.index("sg-1") < medium < text.index("rtb-1")


def test_markdown_escapes_hostile_names(tmp_path: Path) -> None:
    result, _ = offline(tmp_path, "--markdown", str(tmp_path / "r.md"), name=EVIL)
    assert result.exit_code == 1
    text = (tmp_path / "r.md").read_text()
    assert "<script>" not in text
    assert "[x](http://e)" not in text
    assert r"\<script\>" in text
    assert "\r" not in text


def test_junit_asff_and_ocsf_carry_the_fix_commands(tmp_path: Path) -> None:
    """They hold the fix as one text: the commands follow the prose there (and ASFF keeps them
    whole in a product field too)."""
    paths = {f: tmp_path / f"r.{f}" for f in ("junit", "asff", "ocsf")}
    _, report = offline(tmp_path, *(arg for f, p in paths.items() for arg in (f"--{f}", str(p))))
    finding = next(f for f in report["findings"] if f["remediation_commands"])
    (command,) = finding["remediation_commands"]
    failures = [f.text or "" for f in ET.fromstring(paths["junit"].read_text()).iter("failure")]
    assert any(command in text and finding["id"] in text for text in failures)
    asff = {
        d["ProductFields"]["vpc-audit/FindingId"]: d for d in json.loads(paths["asff"].read_text())
    }
    assert asff[finding["id"]]["ProductFields"]["vpc-audit/RemediationCommands"] == command
    ocsf = {d["finding_info"]["uid"]: d for d in json.loads(paths["ocsf"].read_text())}
    assert ocsf[finding["id"]]["remediation"]["desc"] == f"{finding['remediation']}\n\n{command}"


def test_asff_is_batch_import_findings_compatible(tmp_path: Path) -> None:
    result, report = offline(tmp_path, "--asff", str(tmp_path / "f.json"))
    assert result.exit_code == 1
    documents = json.loads((tmp_path / "f.json").read_text())
    assert isinstance(documents, list) and len(documents) == len(report["findings"])
    required = {
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "Resources",
    }
    by_generator = {}
    for doc in documents:
        assert required <= set(doc)
        assert doc["SchemaVersion"] == "2018-10-08"
        assert doc["ProductArn"] == f"arn:aws:securityhub:{R1}:{A}:product/{A}/default"
        assert doc["AwsAccountId"] == A
        assert doc["Severity"]["Label"] in {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"}
        assert doc["Types"] and all(t.count("/") >= 1 for t in doc["Types"])
        assert doc["RecordState"] == "ACTIVE" and doc["Workflow"]["Status"] == "NEW"
        assert doc["Remediation"]["Recommendation"]["Text"]
        assert len(doc["Title"]) <= 256 and len(doc["Description"]) <= 1024
        (resource,) = doc["Resources"]
        assert set(resource) == {"Type", "Id", "Region", "Partition"}
        assert resource["Region"] == R1 and resource["Partition"] == "aws"
        by_generator[doc["GeneratorId"]] = resource
    assert by_generator["vpc-audit/s3-egress-via-nat"] == {
        "Type": "AwsEc2RouteTable",
        "Id": f"arn:aws:ec2:{R1}:{A}:route-table/rtb-1",
        "Region": R1,
        "Partition": "aws",
    }
    assert by_generator["vpc-audit/sg-open-admin-port"]["Type"] == "AwsEc2SecurityGroup"
    assert len({d["Id"] for d in documents}) == len(documents)


@pytest.mark.parametrize(
    ("resource_type", "asff_type"),
    [
        ("vpc", "AwsEc2Vpc"),
        ("vpc-peering-connection", "AwsEc2VpcPeeringConnection"),
        ("vpc-endpoint-service", "AwsEc2VpcEndpointService"),
        ("vpc-endpoint", "Other"),
    ],
)
def test_asff_resource_types(resource_type: str, asff_type: str) -> None:
    finding = finding_data(
        severity="info",
        account_id=A,
        region="cn-north-1",
        resource_type=resource_type,
        resource_id="x-1",
        suppressed=True,
    )
    resolved = {k: finding[k] for k in ("rule_id", "severity", "title", "account_id", "region")}
    resolved |= {"id": "2" * 16, "resource_type": resource_type, "resource_id": "x-1"}
    report = report_data(
        finding,
        scope={"partition": "aws-cn"},
        baseline={
            "source": "last.json",
            "generated_at": "2025-12-31T00:00:00Z",
            "new": 0,
            "unchanged": 0,
            "resolved": 1,
            "not_rechecked": 0,
        },
        resolved=[resolved],
    )
    active, archived = json.loads(render_asff(report_of(report)))
    assert active["Resources"][0]["Type"] == asff_type
    assert active["Resources"][0]["Id"] == f"arn:aws-cn:ec2:cn-north-1:{A}:{resource_type}/x-1"
    assert active["ProductArn"].startswith("arn:aws-cn:securityhub:cn-north-1:")
    assert active["Severity"]["Label"] == "INFORMATIONAL"
    assert active["Workflow"]["Status"] == "SUPPRESSED"
    assert "Remediation" not in active  # no empty recommendation
    assert archived["RecordState"] == "ARCHIVED" and archived["Workflow"]["Status"] == "RESOLVED"


def test_one_output_may_go_to_stdout(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "s.json")
    result = run("--from-snapshot", str(snap), "--csv", "-", "-q")
    assert result.exit_code == 1
    assert result.stdout.startswith("id,severity,rule_id")
    assert not (tmp_path / "vpc-audit-report.html").exists()


def test_two_outputs_on_stdout_is_a_usage_error(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "s.json")
    result = run("--from-snapshot", str(snap), "--json", "-", "--asff", "-")
    assert result.exit_code == 2
    assert "--json and --asff" in result.stderr
    assert result.stdout == ""


def test_only_new_formats_do_not_add_the_default_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    snap = write_snapshot(tmp_path / "s.json")
    result = run("--from-snapshot", str(snap), "--markdown", "r.md")
    assert result.exit_code == 1
    assert (tmp_path / "r.md").exists()
    assert not (tmp_path / "vpc-audit-report.html").exists()


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"findings": []},
        {"a": [1, 2.5, None, True], "é": {"nested": ["x", {"y": "z\n\u2028"}]}, "n": 0},
        {"findings": [{"id": str(i), "evidence": {"rows": [{"k": i}] * 3}} for i in range(5000)]},
    ],
)
def test_json_text_is_indented_json_dumps(value: dict[str, Any]) -> None:
    """json_text joins the encoder's pieces in batches (memory); the text is json.dumps'."""
    assert json_format.json_text(value) == json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def test_coverage_notes_reach_json_html_and_markdown(tmp_path: Path) -> None:
    # Something unreadable inside an audited account-region is said, not silently unknown.
    snap = snapshot(vpc("vpc-1", "10.0.0.0/16"))
    snap.vpcs[0].dns_support = None
    snap.coverage_notes = [
        CoverageNote(A, R1, "vpc-1 enableDnsSupport", "UnauthorizedOperation: not allowed"),
        CoverageNote(A, "", "organisation", "AccessDeniedException: DescribeOrganization"),
    ]
    (tmp_path / "s.json").write_text(dumps(snap))
    result = run(
        "--from-snapshot", str(tmp_path / "s.json"),
        "--json", str(tmp_path / "r.json"),
        "--html", str(tmp_path / "r.html"),
        "--markdown", str(tmp_path / "r.md"),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    schema = json.loads(Path("auditor/report/report.schema.json").read_text())
    jsonschema.validate(report, schema)
    assert [n["subject"] for n in report["coverage_notes"]] == [
        "vpc-1 enableDnsSupport",
        "organisation",
    ]
    html = (tmp_path / "r.html").read_text()
    assert "2 items could not be read" in html
    assert "UnauthorizedOperation: not allowed" in html
    markdown = (tmp_path / "r.md").read_text()
    assert "Not read, treated as unknown (2)" in markdown
    assert "vpc-1 enableDnsSupport" in markdown


# --- the registry: every format gets the same options and the same writing rules ---

FORMAT_NAMES = [fmt.name for fmt in FORMATS]


def test_registry_lists_each_format_module_once_in_order() -> None:
    names = [fmt.name for fmt in FORMATS]
    assert names[:6] == ["json", "html", "csv", "junit", "markdown", "asff"]
    assert len(set(names)) == len(names)
    assert len({fmt.order for fmt in FORMATS}) == len(FORMATS)
    modules = {p.stem for p in Path("auditor/report/formats").glob("*.py")} - {"__init__", "base"}
    assert modules == set(names)  # one module per format, and every module is one


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_each_format_is_an_option_of_audit_and_merge(name: str) -> None:
    fmt = by_name(name)
    for args in ([], ["merge"]):
        result = run(*args, "--help")
        assert f"{fmt.option} FILE" in result.stdout


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_each_format_writes_a_file_or_stdout(tmp_path: Path, name: str) -> None:
    fmt = by_name(name)
    snap = write_snapshot(tmp_path / "s.json")
    result = run("--from-snapshot", str(snap), fmt.option, str(tmp_path / "out"))
    assert result.exit_code == 1, result.stderr
    assert f"wrote {fmt.what}: {tmp_path / 'out'}" in result.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"s.json", "out"}  # no temporary file left
    on_stdout = run("--from-snapshot", str(snap), fmt.option, "-", "-qq")
    assert on_stdout.exit_code == 1
    assert on_stdout.stderr == ""
    first_line = (tmp_path / "out").read_text().splitlines()[0]
    assert on_stdout.stdout.splitlines()[0] == first_line  # the same document (times aside)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_a_shard_refuses_each_format(name: str) -> None:
    option = by_name(name).option
    result = run("--shard", "0/3", "--snapshot-out", "s.json", option, "out")
    assert result.exit_code == 2
    assert f"drop {option}" in result.stderr


@pytest.mark.parametrize("name", [n for n in FORMAT_NAMES if n != "json"])
def test_json_is_rendered_only_when_something_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    rendered: list[str] = []
    real = json_format.render_json

    def counting(report: Report) -> str:
        rendered.append("json")
        return real(report)

    monkeypatch.setattr(json_format, "render_json", counting)
    snap = write_snapshot(tmp_path / "s.json")
    result = run("--from-snapshot", str(snap), by_name(name).option, str(tmp_path / "out"))
    assert result.exit_code == 1
    assert rendered == []
    # --json and --state-dir share one rendering.
    state = tmp_path / "state"
    result = run(
        "--from-snapshot", str(snap), "--json", str(tmp_path / "r.json"), "--state-dir", str(state)
    )
    assert result.exit_code == 1
    assert rendered == ["json"]
    assert (state / "last-report.json").read_text() == (tmp_path / "r.json").read_text()


def test_renderings_keep_only_what_is_used_again() -> None:
    renderings = Renderings(report_of(report_data()), RenderContext(), keep={"json"})
    first = renderings.text("json")
    assert renderings.text("json") is first  # kept: rendered once
    assert "csv" not in renderings.texts
    renderings.text("csv")
    assert "csv" not in renderings.texts  # written once, then let go
