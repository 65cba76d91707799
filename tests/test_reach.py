"""`reach` on hand-built snapshots: what passes, and each kind of component that blocks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.model import InternetGateway, NatGateway, Snapshot
from auditor.net import Topology
from auditor.reach import BLOCK, NOT_REACHABLE, REACHABLE, UNKNOWN, Answer, ReachError, reach
from auditor.serial import dumps
from tests import hub
from tests.builders import (
    R1,
    R2,
    S3_PL,
    A,
    B,
    acl_entry,
    app_and_db,
    eni,
    group,
    nacl,
    route,
    s3_endpoint,
    sg_rule,
    snapshot,
    subnet,
    table,
    vpc,
)

DB_PORT = 5432


def peered(**kw: Any) -> list[Any]:
    """App and database VPCs peered both ways, open network ACLs (tests.builders.app_and_db)."""
    return app_and_db(**kw)


def ask(items: list[Any] | Snapshot, src: str = "i-app", dst: str = "i-db", **kw: Any) -> Answer:
    snap = items if isinstance(items, Snapshot) else snapshot(*items)
    kw.setdefault("port", DB_PORT)
    return reach(Topology(snap), src, dst, **kw)


def stopped(answer: Answer) -> tuple[str, str, str]:
    assert answer.stop is not None, answer
    return answer.stop.component, answer.stop.id, answer.stop.verdict


def replace(items: list[Any], item_id: str, new: Any) -> list[Any]:
    return [new if getattr(i, "id", None) == item_id else i for i in items]


# --- allowed ------------------------------------------------------------------------------


def test_an_allowed_path_lists_every_hop_both_ways() -> None:
    answer = ask(peered())
    assert answer.verdict == REACHABLE and answer.stop is None
    kinds = [(h.component, h.id) for h in answer.forward]
    assert kinds == [
        ("security-group", "sg-app"),
        ("network-acl", "acl-a"),
        ("route-table", "rtb-a"),
        ("vpc-peering-connection", "pcx-1"),
        ("network-acl", "acl-b"),
        ("security-group", "sg-db"),
    ]
    back = [(h.component, h.id) for h in answer.back]
    assert ("route-table", "rtb-b") in back and ("network-acl", "acl-b") in back
    assert answer.forward[2].matched == "10.2.0.0/16 -> pcx-1"
    assert "tcp 5432 10.1.0.0/16" in answer.forward[-1].matched


def test_endpoints_by_interface_address_and_subnet() -> None:
    items = peered()
    assert ask(items, "eni-app", "10.2.1.20").verdict == REACHABLE
    by_subnet = ask(items, "subnet-a", "subnet-b")
    # A subnet stands for all its addresses: the database group admits the whole app VPC,
    # and no security group is asked for the subnets themselves.
    assert by_subnet.verdict == REACHABLE
    assert {h.component for h in by_subnet.forward} == {
        "network-acl",
        "route-table",
        "vpc-peering-connection",
    }


def test_a_group_reference_admits_the_peer_interface() -> None:
    # The same VPC: put the database next to the app.
    same_vpc = [
        *peered(db_ingress=(sg_rule("tcp", (DB_PORT, DB_PORT), "sg-app"),)),
        eni("eni-db2", "subnet-a", "vpc-a", "10.1.1.30", "sg-db2"),
        group("sg-db2", "vpc-a", sg_rule("tcp", (DB_PORT, DB_PORT), "sg-app")),
    ]
    assert ask(same_vpc, dst="i-db2").verdict == REACHABLE
    other = ask(
        [*same_vpc[:-1], group("sg-db2", "vpc-a", sg_rule("tcp", (DB_PORT, DB_PORT), "sg-other"))],
        dst="i-db2",
    )
    assert stopped(other) == ("security-group", "sg-db2", BLOCK)
    assert other.stop is not None and "or from its group sg-app" in other.stop.fix


def test_same_subnet_crosses_no_network_acl() -> None:
    items = [
        *peered(acl_a=(acl_entry(100, False, "deny"), acl_entry(100, True, "deny"))),
        eni("eni-peer", "subnet-a", "vpc-a", "10.1.1.11", "sg-app"),
    ]
    items = replace(items, "sg-app", group("sg-app", "vpc-a", sg_rule("-1", None, "10.1.0.0/16")))
    answer = ask(items, "i-app", "i-peer")
    assert answer.verdict == REACHABLE
    assert not any(h.component == "network-acl" for h in (*answer.forward, *answer.back))


# --- blocked, one component kind at a time --------------------------------------------------


def test_security_group_egress_blocks() -> None:
    answer = ask(peered(app_egress=(sg_rule("tcp", (443, 443), "0.0.0.0/0"),)))
    assert answer.verdict == NOT_REACHABLE
    assert stopped(answer) == ("security-group", "sg-app", BLOCK)
    assert (
        answer.stop
        and "add an egress rule to sg-app allowing tcp 5432 to 10.2.1.20" in answer.stop.fix
    )
    assert answer.back == ()  # not judged once the forward path is blocked


def test_security_group_ingress_blocks() -> None:
    answer = ask(peered(db_ingress=(sg_rule("tcp", (DB_PORT, DB_PORT), "10.9.0.0/16"),)))
    assert stopped(answer) == ("security-group", "sg-db", BLOCK)
    assert (
        answer.stop
        and "add an ingress rule to sg-db allowing tcp 5432 from 10.1.1.10" in answer.stop.fix
    )


def test_network_acl_outbound_blocks() -> None:
    answer = ask(peered(acl_a=(acl_entry(100, True, cidr="10.9.0.0/16"), acl_entry(100, False))))
    assert stopped(answer) == ("network-acl", "acl-a", BLOCK)
    assert answer.stop and answer.stop.check.startswith("outbound tcp 5432 to 10.2.1.20")
    assert answer.stop.matched.startswith("rule * deny all")


def test_network_acl_inbound_blocks_at_the_lowest_matching_rule() -> None:
    rules = (
        acl_entry(90, False, "deny", "10.1.1.0/24", "6", (DB_PORT, DB_PORT)),
        acl_entry(100, False),
        acl_entry(100, True),
    )
    answer = ask(peered(acl_b=rules))
    assert stopped(answer) == ("network-acl", "acl-b", BLOCK)
    assert answer.stop and answer.stop.matched.startswith("rule 90 deny tcp 5432 from 10.1.1.0/24")
    assert "numbered below 90" in answer.stop.fix
    # The same deny numbered after the allow: the allow matches first.
    later = (
        acl_entry(100, False),
        acl_entry(110, False, "deny", "10.1.1.0/24", "6", (DB_PORT, DB_PORT)),
        acl_entry(100, True),
    )
    assert ask(peered(acl_b=later)).verdict == REACHABLE


def test_network_acl_return_needs_the_ephemeral_ports() -> None:
    """Replies go to the client's ephemeral port: blocked when no port of the common clients'
    range (32768-65535: Linux and Windows) passes; some passing is enough, since the client's
    OS picks the port (AWS's ephemeral ports page)."""
    low_only = (acl_entry(100, False), acl_entry(100, True, protocol="6", ports=(1024, 32767)))
    answer = ask(peered(acl_b=low_only))
    assert answer.verdict == NOT_REACHABLE
    assert answer.stop in answer.back
    assert stopped(answer) == ("network-acl", "acl-b", BLOCK)
    assert answer.stop and answer.stop.check.startswith("outbound tcp 32768-65535 to 10.1.1.10")
    assert answer.stop.matched.startswith("rule * deny all")
    assert "ephemeral" in answer.stop.fix
    linux = (acl_entry(100, False), acl_entry(100, True, protocol="6", ports=(32768, 60999)))
    passed = ask(peered(acl_b=linux))
    assert passed.verdict == REACHABLE
    assert any("ports 32768-60999 pass, 61000-65535 do not" in h.matched for h in passed.back)
    # A deny rule inside the range (AWS's page suggests them for malicious ports) is no block.
    hardened = (
        acl_entry(100, False),
        acl_entry(50, True, "deny", protocol="6", ports=(3389, 3389)),
        acl_entry(100, True, protocol="6", ports=(1024, 65535)),
    )
    assert ask(peered(acl_b=hardened)).verdict == REACHABLE


def test_no_route_back_blocks_the_return() -> None:
    answer = ask(peered(b_routes=()))
    assert answer.stop in answer.back
    assert stopped(answer) == ("route-table", "rtb-b", BLOCK)
    assert answer.stop and "add a route for 10.1.1.10 to rtb-b" in answer.stop.fix


def test_no_route_forward() -> None:
    items = replace(
        peered(), "rtb-a", table("rtb-a", "vpc-a", route("10.1.0.0/16", "local"), main=True)
    )
    answer = ask(items)
    assert stopped(answer) == ("route-table", "rtb-a", BLOCK)
    assert answer.stop in answer.forward


@pytest.mark.parametrize("status", ["pending-acceptance", "deleted", "rejected"])
def test_peering_not_active_blocks(status: str) -> None:
    answer = ask(peered(status=status))
    assert stopped(answer) == ("vpc-peering-connection", "pcx-1", BLOCK)
    assert answer.stop and status in answer.stop.matched
    if status == "pending-acceptance":
        assert "must accept it" in answer.stop.fix


def test_a_peering_does_not_carry_transit_traffic() -> None:
    items = [*peered(), subnet("subnet-c", "vpc-c", "10.3.1.0/24"), vpc("vpc-c", "10.3.0.0/16")]
    items = replace(
        items,
        "rtb-a",
        table(
            "rtb-a", "vpc-a", route("10.1.0.0/16", "local"), route("10.0.0.0/8", "pcx-1"), main=True
        ),
    )
    answer = ask([*items, nacl("acl-c", "vpc-c", default=True)], dst="subnet-c")
    assert stopped(answer) == ("vpc-peering-connection", "pcx-1", BLOCK)
    assert answer.stop and "no transit" in answer.stop.matched


def test_a_route_to_a_dead_nat_gateway_is_a_blackhole() -> None:
    items = replace(
        peered(),
        "rtb-a",
        table(
            "rtb-a",
            "vpc-a",
            route("10.1.0.0/16", "local"),
            route("0.0.0.0/0", "nat-gone"),
            main=True,
        ),
    )
    items.append(NatGateway("nat-gone", A, R1, "vpc-a", state="deleted"))
    answer = ask(items, dst="internet", port=443)
    assert stopped(answer) == ("route-table", "rtb-a", BLOCK)
    assert answer.stop and "NAT gateway is gone" in answer.stop.matched


def test_a_blackhole_route_blocks() -> None:
    items = replace(
        peered(),
        "rtb-a",
        table(
            "rtb-a",
            "vpc-a",
            route("10.1.0.0/16", "local"),
            route("10.2.0.0/16", "pcx-1", state="blackhole"),
            main=True,
        ),
    )
    answer = ask(items)
    assert stopped(answer) == ("route-table", "rtb-a", BLOCK)
    assert answer.stop and "blackhole" in answer.stop.matched


# --- across accounts, regions and hubs -------------------------------------------------------


@pytest.mark.parametrize(("account", "region"), [(B, R1), (A, R2), (B, R2)])
def test_cross_account_and_cross_region_peering(account: str, region: str) -> None:
    answer = ask(peered(b_account=account, b_region=region))
    assert answer.verdict == REACHABLE
    db_group = answer.forward[-1]
    assert (db_group.account_id, db_group.region) == (account, region)
    assert f"into vpc-b ({account}/{region})" in answer.forward[3].matched


def test_the_peer_vpc_outside_the_audit_is_unknown_beyond_here() -> None:
    items = [
        i
        for i in peered(b_account=B)
        if getattr(i, "account_id", A) == A or getattr(i, "id", "") == "pcx-1"
    ]
    snap = snapshot(*items, unaudited=((B, R1),))
    answer = ask(snap, dst="10.2.1.20")
    assert answer.verdict == UNKNOWN
    assert stopped(answer) == ("vpc-peering-connection", "pcx-1", UNKNOWN)
    assert answer.stop and "unknown beyond here" in answer.stop.matched
    assert answer.stop.fix == f"audit account {B} in {R1} too, to see beyond"


def hub_estate(**kw: Any) -> list[Any]:
    """tests/hub.py's spokes with an instance in each app subnet, open ACLs and groups."""
    items = hub.hub_estate(**kw)
    for name, ip, account in (("spoke1", "10.1.1.10", A), ("spoke2", "10.2.1.10", B)):
        items += [
            eni(
                f"eni-{name}",
                f"subnet-{name}-app",
                f"vpc-{name}",
                ip,
                f"sg-{name}",
                account=account,
            ),
            group(f"sg-{name}", f"vpc-{name}", sg_rule("-1", None, "10.0.0.0/8"), account=account),
            nacl(f"acl-{name}", f"vpc-{name}", default=True, account=account),
        ]
    return [*items, nacl("acl-egress", "vpc-egress", default=True)]


def test_hub_and_spoke_through_the_transit_gateway() -> None:
    answer = ask(hub_estate(), "i-spoke1", "i-spoke2", port=443)
    assert answer.verdict == REACHABLE
    hub_tables = [h.id for h in answer.forward if h.component == "transit-gateway-route-table"]
    assert hub_tables == ["tgw-rtb-spokes", "tgw-rtb-egress"]  # through the egress VPC and back
    assert any(h.component == "transit-gateway-route-table" for h in answer.back)


def test_a_missing_transit_gateway_route_blocks() -> None:
    items = hub_estate()
    egress_table = next(i for i in items if getattr(i, "id", "") == "tgw-rtb-egress")
    egress_table.routes = [r for r in egress_table.routes if r.destination_cidr != "10.2.0.0/16"]
    answer = ask(items, "i-spoke1", "i-spoke2", port=443)
    assert stopped(answer) == ("transit-gateway-route-table", "tgw-rtb-egress", BLOCK)
    assert answer.stop and "propagated" in answer.stop.fix


def test_a_transit_gateway_nobody_audited_is_unknown() -> None:
    items = [
        i for i in hub_estate() if not getattr(i, "id", "").startswith(("tgw-rtb-", "tgw-attach-"))
    ]
    snap = snapshot(*[i for i in items if getattr(i, "id", "") != "tgw-1"])
    answer = ask(snap, "i-spoke1", "i-spoke2", port=443)
    assert answer.verdict == UNKNOWN
    assert (
        answer.stop and answer.stop.id == "tgw-1" and "unknown beyond here" in answer.stop.matched
    )


# --- the internet and AWS services -----------------------------------------------------------


def public_vpc(public_ip: str | None = "54.1.2.3", via_nat: bool = False) -> list[Any]:
    items = [
        vpc("vpc-a", "10.1.0.0/16"),
        subnet("subnet-a", "vpc-a", "10.1.1.0/24"),
        subnet("subnet-pub", "vpc-a", "10.1.0.0/24"),
        table("rtb-pub", "vpc-a", route("10.1.0.0/16", "local"), route("0.0.0.0/0", "igw-1"), subnets=("subnet-pub",)),
        table("rtb-a", "vpc-a", route("10.1.0.0/16", "local"), route("0.0.0.0/0", "nat-1" if via_nat else "igw-1"), route(S3_PL, "vpce-s3"), main=True),
        InternetGateway("igw-1", A, R1, ["vpc-a"]),
        NatGateway("nat-1", A, R1, "vpc-a", subnet_id="subnet-pub"),
        s3_endpoint("vpce-s3", "vpc-a", "rtb-a"),
        eni("eni-web", "subnet-a", "vpc-a", "10.1.1.10", "sg-web", public_ip=public_ip),
        group("sg-web", "vpc-a", sg_rule("tcp", (443, 443), "0.0.0.0/0")),
        nacl("acl-a", "vpc-a", default=True),
    ]  # fmt: skip
    return items


def test_out_to_the_internet_needs_a_public_address_or_a_nat_gateway() -> None:
    assert ask(public_vpc(), "i-web", "internet", port=443).verdict == REACHABLE
    private = ask(public_vpc(public_ip=None), "i-web", "internet", port=443)
    assert stopped(private) == ("internet-gateway", "igw-1", BLOCK)
    assert private.stop and "Elastic IP" in private.stop.fix
    through_nat = ask(public_vpc(public_ip=None, via_nat=True), "i-web", "internet", port=443)
    assert through_nat.verdict == REACHABLE
    assert [h.component for h in through_nat.forward][2:5] == [
        "route-table",
        "nat-gateway",
        "route-table",
    ]


def test_in_from_the_internet() -> None:
    assert ask(public_vpc(), "internet", "i-web", port=443).verdict == REACHABLE
    assert stopped(ask(public_vpc(), "internet", "i-web", port=22)) == (
        "security-group",
        "sg-web",
        BLOCK,
    )
    assert (
        stopped(ask(public_vpc(public_ip=None), "internet", "i-web", port=443))[0]
        == "internet-gateway"
    )


def test_s3_through_the_gateway_endpoint() -> None:
    answer = ask(public_vpc(public_ip=None), "i-web", "s3", port=443)
    assert answer.verdict == REACHABLE
    assert any(h.component == "vpc-endpoint" and h.id == "vpce-s3" for h in answer.forward)


# --- what the snapshot cannot tell ----------------------------------------------------------


def test_a_snapshot_without_network_acls_is_unknown_there() -> None:
    items = [i for i in peered() if not getattr(i, "id", "").startswith("acl-")]
    answer = ask(items)
    assert answer.verdict == UNKNOWN
    assert answer.stop and answer.stop.component == "network-acl"
    assert "network ACLs not in this snapshot" in answer.stop.matched


def test_a_block_wins_over_an_unknown() -> None:
    items = [i for i in peered(db_ingress=()) if not getattr(i, "id", "").startswith("acl-")]
    assert ask(items).verdict == NOT_REACHABLE


def test_a_group_outside_the_snapshot_is_unknown() -> None:
    items = [i for i in peered() if getattr(i, "id", "") != "sg-db"]
    answer = ask(items)
    assert answer.verdict == UNKNOWN
    assert answer.stop and "sg-db is not in the snapshot" in answer.stop.matched


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("i-nope", "i-db", "i-nope: no network interface"),
        ("i-app", "subnet-nope", "no such subnet"),
        ("s3", "i-app", "can only be a destination"),
        ("i-app", "i-app", "same network interface"),
        ("i-app", "not-an-id", "is not an instance"),
        ("internet", "internet", "one end must be in a subnet"),
    ],
)
def test_questions_that_cannot_be_asked(src: str, dst: str, message: str) -> None:
    with pytest.raises(ReachError, match=message):
        ask(peered(), src, dst)


def test_tcp_needs_a_port_icmp_does_not() -> None:
    with pytest.raises(ReachError, match="needs a destination port"):
        ask(peered(), port=None)
    icmp = ask(
        peered(db_ingress=(sg_rule("icmp", (8, -1), "10.1.0.0/16"),)), port=None, protocol="icmp"
    )
    assert icmp.verdict == REACHABLE
    assert "icmp echo reply" in icmp.back[1].check


# --- the command -----------------------------------------------------------------------------


def cli(snap: Snapshot, tmp_path: Path, *args: str) -> Result:
    path = tmp_path / "snap.json"
    path.write_text(dumps(snap))
    return CliRunner().invoke(main, ["reach", *args, "--from-snapshot", str(path)])


def test_cli_text_and_exit_codes(tmp_path: Path) -> None:
    ok = cli(snapshot(*peered()), tmp_path, "i-app", "i-db", "--port", "5432")
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("i-app -> i-db (tcp 5432): REACHABLE\n")
    assert "  ok       vpc-peering-connection pcx-1 [111111111111 us-east-1]" in ok.output
    blocked = cli(
        snapshot(*peered(acl_b=(acl_entry(100, False),))),
        tmp_path,
        "i-app",
        "10.2.1.20",
        "--port",
        "5432",
    )
    assert blocked.exit_code == 1
    assert "Blocked at network-acl acl-b [111111111111 us-east-1] (return path)" in blocked.output
    assert (
        "Fix: add an outbound allow rule to acl-b for tcp 32768-65535 to 10.1.1.10"
        in blocked.output
    )
    unknown = cli(
        snapshot(*[i for i in peered() if getattr(i, "id", "") != "sg-db"]),
        tmp_path,
        "i-app",
        "i-db",
        "--port",
        "5432",
    )
    assert unknown.exit_code == 4
    assert "UNKNOWN" in unknown.output.splitlines()[0]


def test_cli_json(tmp_path: Path) -> None:
    result = cli(
        snapshot(*peered(status="pending-acceptance")),
        tmp_path,
        "i-app",
        "i-db",
        "--port",
        "5432",
        "--json",
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["verdict"] == "not reachable"
    assert data["stop"]["component"] == "vpc-peering-connection"
    assert [h["component"] for h in data["forward"]][:3] == [
        "security-group",
        "network-acl",
        "route-table",
    ]
    assert data["return"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["i-app", "i-nope", "--port", "1"], "i-nope: no network interface of this instance"),
        (["i-app", "i-db"], "tcp needs --port N"),
        (
            ["i-app", "i-db", "--port", "1", "--profile", "x"],
            "--from-snapshot reads no AWS; drop --profile",
        ),
    ],
)
def test_cli_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = cli(snapshot(*peered()), tmp_path, *args)
    assert result.exit_code == 2
    assert message in result.output
