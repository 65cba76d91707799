"""peering-nacl-blocks, tgw-nacl-blocks and sg-peer-reference-unreachable on hand-built snapshots:
traffic the security groups name between linked VPCs, and what the network ACLs and routes do
with it."""

from __future__ import annotations

import shlex
from typing import Any

from auditor.model import Finding
from auditor.rules import run_rules
from tests import hub
from tests.builders import (
    R1,
    A,
    B,
    acl_entry,
    app_and_db,
    peering,
    route,
    sg_rule,
    side,
    snapshot,
    table,
)

DB = (5432, 5432)
PEERING, TGW, UNREACHABLE = (
    "peering-nacl-blocks",
    "tgw-nacl-blocks",
    "sg-peer-reference-unreachable",
)
# The database subnet's ACL admits the app on 5432 but lets out only HTTPS: replies dropped.
NO_REPLIES = (
    acl_entry(100, False, "allow", "10.1.0.0/16", "6", DB),
    acl_entry(100, True, "allow", "0.0.0.0/0", "6", (443, 443)),
)


def peered(*, acl_b: tuple[Any, ...] = NO_REPLIES, **kw: Any) -> list[Any]:
    """App (vpc-a) and database (vpc-b) VPCs peered both ways; the database's group admits
    the app VPC on 5432 and its subnet's own ACL drops the replies (tests.builders.app_and_db)."""
    return app_and_db(acl_b=acl_b, own_acl_b=True, **kw)


def hubbed(
    *, acl_a: tuple[Any, ...] = (), acl_b: tuple[Any, ...] = NO_REPLIES, hub_back: bool = True
) -> list[Any]:
    """The same two VPCs, attached to one transit gateway instead of peered."""
    routes = [hub.hub_route("10.2.0.0/16", "tgw-attach-b", kind="propagated")]
    if hub_back:
        routes.append(hub.hub_route("10.1.0.0/16", "tgw-attach-a", kind="propagated"))
    items = peered(
        acl_a=acl_a,
        acl_b=acl_b,
        a_routes=(route("10.2.0.0/16", "tgw-1"),),
        b_routes=(route("10.1.0.0/16", "tgw-1"),),
    )
    return [
        *(i for i in items if getattr(i, "id", "") != "pcx-1"),
        hub.tgw(),
        hub.attachment("tgw-attach-a", "vpc-a", "subnet-a"),
        hub.attachment("tgw-attach-b", "vpc-b", "subnet-b"),
        hub.hub_table("tgw-rtb-1", *routes, associations=("tgw-attach-a", "tgw-attach-b")),
    ]


def run(items: list[Any], rule_id: str = PEERING) -> list[Finding]:
    return run_rules(snapshot(*items), only=[rule_id])


def replace(items: list[Any], item_id: str, new: Any) -> list[Any]:
    return [new if getattr(i, "id", None) == item_id else i for i in items]


# --- peering-nacl-blocks -------------------------------------------------------------------


def test_replies_dropped_by_the_final_deny_name_the_acl_ports_and_fix() -> None:
    (finding,) = run(peered())
    assert (finding.resource_id, finding.vpc_id, finding.severity.name) == (
        "acl-b",
        "vpc-b",
        "MEDIUM",
    )
    (row,) = finding.evidence["dropped"]
    assert row["direction"] == "outbound" and row["traffic"] == "replies"
    assert (row["protocol"], row["ports"], row["peer"]) == ("tcp", "32768-65535", "10.1.0.0/16")
    assert row["decided_by"].startswith("rule * (deny all")
    assert finding.evidence["link"] == "pcx-1"
    assert "sg-db" in finding.message and "pcx-1" in finding.message
    (command,) = finding.remediation_commands
    comment, line = command.split("\n")
    assert comment == f"# in account {A} ({R1})"
    assert shlex.split(line) == [
        "aws", "ec2", "create-network-acl-entry", "--network-acl-id", "acl-b", "--egress",
        "--rule-number", "200", "--protocol", "6", "--port-range", "From=32768,To=65535",
        "--cidr-block", "10.1.0.0/16", "--rule-action", "allow", "--region", R1,
    ]  # fmt: skip


def test_the_fix_clears_the_finding() -> None:
    fixed = (*NO_REPLIES, acl_entry(200, True, "allow", "10.1.0.0/16", "6", (1024, 65535)))
    assert run(peered(acl_b=fixed)) == []


def test_a_deny_rule_is_named_and_gets_no_command() -> None:
    acl = (
        acl_entry(90, True, "deny", "10.1.0.0/16", "6", (1024, 65535)),
        acl_entry(100, True, "allow", "0.0.0.0/0"),
        acl_entry(100, False, "allow", "0.0.0.0/0"),
    )
    (finding,) = run(peered(acl_b=acl))
    assert finding.evidence["dropped"][0]["decided_by"].startswith("rule 90 deny tcp 1024-65535")
    assert finding.remediation_commands == []
    assert "numbered below 90" in finding.remediation


def test_the_client_side_acl_dropping_replies_is_reported_on_the_client() -> None:
    client = (acl_entry(100, True, "allow"), acl_entry(100, False, "allow", "10.1.0.0/16"))
    (finding,) = run(peered(acl_a=client, acl_b=()))
    assert finding.resource_id == "acl-a"
    (row,) = finding.evidence["dropped"]
    assert (row["direction"], row["traffic"], row["peer"]) == ("inbound", "replies", "10.2.1.0/24")
    assert "--ingress" in finding.remediation_commands[0]


def test_requests_dropped_on_every_port_are_reported() -> None:
    closed = (acl_entry(100, True, "allow"), acl_entry(100, False, "allow", "10.3.0.0/16"))
    (finding,) = run(peered(acl_b=closed))
    (row,) = finding.evidence["dropped"]
    assert (row["direction"], row["traffic"], row["ports"]) == ("inbound", "requests", "5432")


def test_an_acl_narrowing_a_port_range_is_a_design_not_a_finding() -> None:
    # The group allows 5000-6000; the ACL lets 5432 in and every reply out.
    acl = (
        acl_entry(100, False, "allow", "10.1.0.0/16", "6", DB),
        acl_entry(100, True, "allow", "10.1.0.0/16", "6", (1024, 65535)),
    )
    assert run(peered(db_ingress=(sg_rule("tcp", (5000, 6000), "10.1.0.0/16"),), acl_b=acl)) == []


def test_all_traffic_rules_are_not_judged() -> None:
    # A broad group rule with the ACL as the narrower control is a design, not a contradiction.
    assert run(peered(db_ingress=(sg_rule("-1", None, "10.1.0.0/16"),))) == []


def test_replies_pass_when_some_client_port_passes() -> None:
    """AWS's ephemeral ports page: clients pick from 32768-60999 (Linux) or 49152-65535
    (Windows), and deny rules for malicious ports inside the range are good practice."""
    linux = (*NO_REPLIES, acl_entry(200, True, "allow", "10.1.0.0/16", "6", (32768, 60999)))
    assert run(peered(acl_b=linux)) == []
    hardened = (
        acl_entry(50, True, "deny", "0.0.0.0/0", "6", (3389, 3389)),
        acl_entry(100, False, "allow", "0.0.0.0/0"),
        acl_entry(100, True, "allow", "0.0.0.0/0", "6", (1024, 65535)),
    )
    assert run(peered(acl_b=hardened)) == []
    low_only = (*NO_REPLIES, acl_entry(200, True, "allow", "10.1.0.0/16", "6", (1024, 32767)))
    (finding,) = run(peered(acl_b=low_only))
    assert finding.evidence["dropped"][0]["ports"] == "32768-65535"


def test_a_group_reference_names_the_peer() -> None:
    (finding,) = run(peered(db_ingress=(sg_rule("tcp", DB, "sg-app"),)))
    assert finding.evidence["dropped"][0]["peer"] == "10.1.1.0/24"  # the client's subnet


def test_not_reported_when_the_vpcs_never_talk() -> None:
    # No group names the other VPC (a broad range is not a name), or no interface uses it.
    assert run(peered(db_ingress=(sg_rule("tcp", DB, "10.0.0.0/8"),))) == []
    assert run(peered(db_ingress=())) == []
    no_db = [i for i in peered() if getattr(i, "id", "") != "eni-db"]
    assert run(no_db) == []


def test_not_reported_when_the_client_group_keeps_the_request_in() -> None:
    https_only = (sg_rule("tcp", (443, 443), "0.0.0.0/0"),)
    assert run(peered(app_egress=https_only)) == []


def test_not_reported_without_a_round_trip_by_the_routes() -> None:
    assert run(peered(b_routes=())) == []
    assert run(peered(status="deleted")) == []


def test_unknown_acls_are_not_a_finding() -> None:
    no_acls = [i for i in peered() if not getattr(i, "id", "").startswith("acl-")]
    assert run(no_acls) == []
    assert run(no_acls, UNREACHABLE) == []


def test_no_command_when_no_rule_number_is_left() -> None:
    last = (*NO_REPLIES, acl_entry(32766, True, "deny", "192.0.2.0/24"))
    (finding,) = run(peered(acl_b=last))
    assert finding.remediation_commands == []


def test_findings_do_not_repeat_across_rules_naming_the_same_flow() -> None:
    twice = (sg_rule("tcp", DB, "10.1.0.0/16"), sg_rule("tcp", DB, "10.1.1.0/24"))
    (finding,) = run(peered(db_ingress=twice))
    assert finding.evidence["dropped_total"] == 1


# --- tgw-nacl-blocks -----------------------------------------------------------------------


def test_through_a_transit_gateway() -> None:
    (finding,) = run(hubbed(), TGW)
    assert finding.resource_id == "acl-b" and finding.evidence["link"] == "tgw-1"
    assert "transit gateway tgw-1" in finding.message
    assert run(hubbed(), PEERING) == []
    assert run(peered(), TGW) == []


def test_through_a_transit_gateway_without_a_way_back_is_not_judged() -> None:
    assert run(hubbed(hub_back=False), TGW) == []


# --- sg-peer-reference-unreachable ---------------------------------------------------------


def test_a_group_naming_a_peer_with_no_route_either_way() -> None:
    (finding,) = run(peered(a_routes=(), b_routes=(), acl_b=()), UNREACHABLE)
    assert (finding.resource_id, finding.severity.name) == ("sg-db", "LOW")
    assert finding.evidence["peer_vpc"] == "vpc-a" and finding.evidence["links"] == ["pcx-1"]
    assert finding.evidence["no_route"] == "from vpc-b to vpc-a"
    assert finding.evidence["paths"][0]["ends_at"] == "no-route rtb-b"


def test_a_route_one_way_only_is_reported_from_the_other_side() -> None:
    (finding,) = run(peered(a_routes=(), acl_b=()), UNREACHABLE)
    assert finding.evidence["no_route"] == "from vpc-a back to vpc-b"


def test_routed_both_ways_or_not_linked_is_not_reported() -> None:
    assert run(peered(acl_b=()), UNREACHABLE) == []
    # Not linked (the peering is gone): sg-stale-peer-reference's and the peering rules' ground.
    assert run(peered(a_routes=(), b_routes=(), status="deleted"), UNREACHABLE) == []


def test_an_unaudited_peer_is_judged_from_this_side_only() -> None:
    items = [
        i for i in peered(b_account=B, a_routes=(), acl_b=()) if getattr(i, "account_id", A) == B
    ]
    items.append(
        peering("pcx-1", side("vpc-a", "10.1.0.0/16"), side("vpc-b", "10.2.0.0/16", account=B))
    )
    # vpc-b's table routes back to vpc-a: from vpc-b's side the traffic is carried.
    assert run(items, UNREACHABLE) == []
    items = replace(
        items, "rtb-b", table("rtb-b", "vpc-b", route("10.2.0.0/16", "local"), main=True, account=B)
    )
    (finding,) = run(items, UNREACHABLE)
    assert finding.evidence["no_route"] == "from vpc-b to vpc-a"


def test_a_transit_gateway_link_without_routes() -> None:
    items = [i for i in hubbed(acl_b=()) if getattr(i, "id", "") not in ("rtb-a", "rtb-b")]
    items += [
        table("rtb-a", "vpc-a", route("10.1.0.0/16", "local"), main=True),
        table("rtb-b", "vpc-b", route("10.2.0.0/16", "local"), main=True),
    ]
    (finding,) = run(items, UNREACHABLE)
    assert finding.evidence["links"] == ["tgw-1"]
