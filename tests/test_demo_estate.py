"""The demo estate seeded into a moto server has exactly the facts the demo promises."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest

from auditor.demo import (
    DEMO_ACCOUNTS,
    DEMO_REGIONS,
    DEMO_ROLE,
    UNAUDITED_ACCOUNT,
    MotoServer,
    seed_estate,
)
from auditor.errors import AuditError
from tests.faults import FaultServer

if TYPE_CHECKING:
    from types_boto3_ec2.client import EC2Client
    from types_boto3_ec2.type_defs import (
        RouteTableTypeDef,
        VpcEndpointTypeDef,
        VpcPeeringConnectionTypeDef,
        VpcTypeDef,
    )

A, B = DEMO_ACCOUNTS
C = UNAUDITED_ACCOUNT
USE1, EUW1 = DEMO_REGIONS


@pytest.fixture(scope="module")
def estate(moto_server: FaultServer) -> Iterator[tuple[str, dict[str, str]]]:
    """Seeded once for the module on the shared server (wiped first: moto state is global)."""
    moto_server.reset()
    yield moto_server.url, seed_estate(moto_server.url)


class Estate:
    """EC2 clients per (account, region) against the moto server, plus a few lookups."""

    def __init__(self, url: str) -> None:
        self.url = url
        base = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        sts = base.client("sts", region_name=USE1, endpoint_url=url)
        self.sessions = {A: base}
        for account in (B, C):
            creds = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{DEMO_ROLE}", RoleSessionName="test"
            )["Credentials"]
            self.sessions[account] = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )

    def ec2(self, account: str, region: str) -> EC2Client:
        return self.sessions[account].client("ec2", region_name=region, endpoint_url=self.url)

    def vpcs(self, account: str, region: str) -> dict[str, VpcTypeDef]:
        vpcs = self.ec2(account, region).describe_vpcs()["Vpcs"]
        return {v["VpcId"]: v for v in vpcs if not v["IsDefault"]}

    def table(self, account: str, region: str, rtb: str) -> RouteTableTypeDef:
        tables = self.ec2(account, region).describe_route_tables()["RouteTables"]
        return next(t for t in tables if t["RouteTableId"] == rtb)

    def routes(self, account: str, region: str, rtb: str) -> dict[str, str]:
        """Destination CIDR -> target id (local routes and prefix-list routes left out)."""
        out = {}
        for r in self.table(account, region, rtb)["Routes"]:
            if "DestinationCidrBlock" not in r or r.get("GatewayId") == "local":
                continue
            target = (
                r.get("GatewayId")
                or r.get("NatGatewayId")
                or r.get("TransitGatewayId")
                or r.get("VpcEndpointId")
                or r["VpcPeeringConnectionId"]
            )
            out[r["DestinationCidrBlock"]] = target
        return out

    def explicit_subnets(self, account: str, region: str, rtb: str) -> set[str]:
        assocs = self.table(account, region, rtb)["Associations"]
        return {a["SubnetId"] for a in assocs if not a["Main"] and "SubnetId" in a}

    def endpoints(self, account: str, region: str) -> dict[str, VpcEndpointTypeDef]:
        eps = self.ec2(account, region).describe_vpc_endpoints()["VpcEndpoints"]
        return {e["VpcEndpointId"]: e for e in eps}

    def peering(self, account: str, region: str, pcx: str) -> VpcPeeringConnectionTypeDef:
        pcxs = self.ec2(account, region).describe_vpc_peering_connections()
        return next(p for p in pcxs["VpcPeeringConnections"] if p["VpcPeeringConnectionId"] == pcx)


def name(resource: VpcTypeDef) -> str:
    return next(t["Value"] for t in resource.get("Tags", []) if t["Key"] == "Name")


def test_seeded_estate_matches_the_story(estate: tuple[str, dict[str, str]]) -> None:
    url, ids = estate
    env = Estate(url)

    # VPCs land in the right account and region, and nowhere else.
    expected = {
        (A, USE1): {
            "vpc_prod": "shop-prod",
            "vpc_staging": "shop-staging",
            "vpc_egress": "egress-hub",
            "vpc_payments": "payments",
            "vpc_retired": "retired-app",
        },
        (A, EUW1): {"vpc_eu": "shop-eu"},
        (B, USE1): {
            "vpc_analytics": "analytics",
            "vpc_sandbox": "partner-sandbox",
            "vpc_ledger": "ledger",
        },
        (B, EUW1): {"vpc_analytics_eu": "analytics-eu", "vpc_reporting_eu": "reporting-eu"},
        (C, EUW1): {"vpc_vendor": "vendor-link"},
    }
    for (account, region), wanted in expected.items():
        vpcs = env.vpcs(account, region)
        assert {ids[k] for k in wanted} == set(vpcs)
        for key, vpc_name in wanted.items():
            assert name(vpcs[ids[key]]) == vpc_name
            assert vpcs[ids[key]]["OwnerId"] == account
    assert env.vpcs(C, USE1) == {}
    assert env.vpcs(B, USE1)[ids["vpc_analytics"]]["CidrBlock"] == "10.30.0.0/16"

    # shop-prod: public -> IGW, private app subnets -> NAT, no S3 endpoint at all.
    assert env.routes(A, USE1, ids["rtb_prod_public"]) == {"0.0.0.0/0": ids["igw_prod"]}
    assert env.explicit_subnets(A, USE1, ids["rtb_prod_public"]) == {ids["subnet_prod_public"]}
    assert env.routes(A, USE1, ids["rtb_prod_private"]) == {
        "0.0.0.0/0": ids["nat_prod"],
        "10.30.1.0/24": ids["pcx_analytics"],
    }
    assert env.explicit_subnets(A, USE1, ids["rtb_prod_private"]) == {
        ids["subnet_prod_app_a"],
        ids["subnet_prod_app_b"],
    }
    nats = env.ec2(A, USE1).describe_nat_gateways()["NatGateways"]
    nat_prod = next(n for n in nats if n["NatGatewayId"] == ids["nat_prod"])
    assert nat_prod["SubnetId"] == ids["subnet_prod_public"]
    assert nat_prod["NatGatewayAddresses"][0]["AllocationId"] == ids["eip_prod_nat"]
    a_endpoints = env.endpoints(A, USE1)
    assert sorted(e["VpcId"] for e in a_endpoints.values()) == sorted(
        [ids["vpc_staging"], ids["vpc_egress"]]  # the egress VPC's is its firewall's
    )

    # shop-staging: app subnet on the main table, endpoint on the main table only.
    main = env.table(A, USE1, ids["rtb_staging_main"])
    assert main["VpcId"] == ids["vpc_staging"]
    assert any(a["Main"] for a in main["Associations"])
    assert env.explicit_subnets(A, USE1, ids["rtb_staging_main"]) == set()
    all_tables = env.ec2(A, USE1).describe_route_tables()["RouteTables"]
    explicit = {a.get("SubnetId") for t in all_tables for a in t["Associations"]}
    assert ids["subnet_staging_app"] not in explicit
    assert env.explicit_subnets(A, USE1, ids["rtb_staging_batch"]) == {ids["subnet_staging_batch"]}
    assert env.routes(A, USE1, ids["rtb_staging_main"]) == {
        "0.0.0.0/0": ids["nat_staging"],
        "10.50.0.0/16": ids["pcx_eu"],
    }
    assert env.routes(A, USE1, ids["rtb_staging_batch"]) == {"0.0.0.0/0": ids["nat_staging"]}
    for key, has_s3_route in (("rtb_staging_main", True), ("rtb_staging_batch", False)):
        routes = env.table(A, USE1, ids[key])["Routes"]
        s3_routes = [r for r in routes if r.get("GatewayId") == ids["vpce_staging_s3"]]
        assert bool(s3_routes) is has_s3_route, key
        assert all(r["DestinationPrefixListId"].startswith("pl-") for r in s3_routes)
    staging_s3 = a_endpoints[ids["vpce_staging_s3"]]
    assert staging_s3["ServiceName"] == "com.amazonaws.us-east-1.s3"
    assert staging_s3["VpcEndpointType"] == "Gateway"
    assert staging_s3["RouteTableIds"] == [ids["rtb_staging_main"]]

    # analytics (B/us-east-1): healthy private table.
    assert env.routes(B, USE1, ids["rtb_analytics_private"]) == {
        "0.0.0.0/0": ids["nat_analytics"],
        "10.10.1.0/24": ids["pcx_analytics"],
        "10.10.2.0/24": ids["pcx_analytics"],
    }
    assert env.explicit_subnets(B, USE1, ids["rtb_analytics_private"]) == {
        ids["subnet_analytics_app"]
    }
    b_endpoints = env.endpoints(B, USE1)
    assert b_endpoints[ids["vpce_analytics_s3"]]["RouteTableIds"] == [ids["rtb_analytics_private"]]

    # shop-eu: no return route to shop-staging.
    assert env.routes(A, EUW1, ids["rtb_eu_private"]) == {}
    assert env.explicit_subnets(A, EUW1, ids["rtb_eu_private"]) == {ids["subnet_eu_app"]}

    # B/eu-west-1: analytics-eu routes to the vendor; reporting-eu is healthy.
    assert env.routes(B, EUW1, ids["rtb_analytics_eu_private"]) == {
        "10.70.0.0/16": ids["pcx_vendor"],
        "10.71.0.0/16": ids["tgw_vendor"],  # a hub owned by C, who is not audited
    }
    assert env.routes(B, EUW1, ids["rtb_reporting_eu_private"]) == {
        "0.0.0.0/0": ids["nat_reporting_eu"]
    }
    reporting_s3 = env.endpoints(B, EUW1)[ids["vpce_reporting_eu_s3"]]
    assert reporting_s3["ServiceName"] == "com.amazonaws.eu-west-1.s3"
    assert reporting_s3["RouteTableIds"] == [ids["rtb_reporting_eu_private"]]

    # Peerings, seen from both sides: status, owners, regions and DNS options.
    peerings = {
        # key: (requester, accepter, status, dns on both sides)
        "pcx_analytics": ((A, USE1, "vpc_prod"), (B, USE1, "vpc_analytics"), "active", True),
        "pcx_pending": (
            (A, USE1, "vpc_prod"),
            (B, USE1, "vpc_sandbox"),
            "pending-acceptance",
            False,
        ),
        "pcx_eu": ((A, USE1, "vpc_staging"), (A, EUW1, "vpc_eu"), "active", False),
        "pcx_vendor": ((B, EUW1, "vpc_analytics_eu"), (C, EUW1, "vpc_vendor"), "active", True),
    }
    for key, (req, acc, status, dns) in peerings.items():
        for account, region, _ in (req, acc):
            pcx = env.peering(account, region, ids[key])
            assert pcx["Status"]["Code"] == status, key
            for info, (owner, side_region, vpc_key) in (
                (pcx["RequesterVpcInfo"], req),
                (pcx["AccepterVpcInfo"], acc),
            ):
                assert (info["OwnerId"], info["Region"], info["VpcId"]) == (
                    owner,
                    side_region,
                    ids[vpc_key],
                ), key
                options = info.get("PeeringOptions", {})
                assert options.get("AllowDnsResolutionFromRemoteVpc", False) is dns, key


def test_hub_and_spoke_part_matches_the_story(estate: tuple[str, dict[str, str]]) -> None:
    url, ids = estate
    env = Estate(url)
    a, b = env.ec2(A, USE1), env.ec2(B, USE1)
    (hub,) = a.describe_transit_gateways()["TransitGateways"]
    assert hub["TransitGatewayId"] == ids["tgw_hub"]
    assert hub["Options"]["AutoAcceptSharedAttachments"] == "enable"
    # B sees the shared hub and its attachments; the owner sees every attachment.
    assert [t["TransitGatewayId"] for t in b.describe_transit_gateways()["TransitGateways"]] == [
        ids["tgw_hub"]
    ]
    attachments = {
        t["TransitGatewayAttachmentId"]: t
        for t in a.describe_transit_gateway_attachments()["TransitGatewayAttachments"]
    }
    assert attachments[ids["tgw_attach_ledger"]]["ResourceOwnerId"] == B
    assert attachments[ids["tgw_attach_sandbox"]]["State"] == "pendingAcceptance"
    assert ids["tgw_attach_retired"] not in attachments  # deleted
    # Spokes route everything to the hub; ledger has its own gateway endpoints, payments none.
    assert env.routes(A, USE1, ids["rtb_payments_private"]) == {"0.0.0.0/0": ids["tgw_hub"]}
    assert env.routes(B, USE1, ids["rtb_ledger_private"]) == {"0.0.0.0/0": ids["tgw_hub"]}
    ledger_endpoints = {e["ServiceName"] for e in env.endpoints(B, USE1).values()}
    assert {"com.amazonaws.us-east-1.s3", "com.amazonaws.us-east-1.dynamodb"} <= ledger_endpoints
    # The egress table of the hub routes back to payments only.
    routes = a.search_transit_gateway_routes(
        TransitGatewayRouteTableId=ids["tgw_rtb_egress"],
        Filters=[{"Name": "type", "Values": ["static", "propagated"]}],
    )["Routes"]
    assert [r["DestinationCidrBlock"] for r in routes] == ["10.110.0.0/16"]


def test_motoserver_without_moto_is_an_audit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "moto.server", None)
    with pytest.raises(AuditError, match=r"pip install 'vpc-audit\[demo\]'"):
        MotoServer().start()
