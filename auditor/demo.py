"""A self-contained demo estate: moto as a local HTTP server, seeded with a small multi-account,
multi-region VPC estate that has a few deliberate networking problems next to healthy look-alikes.

moto is an optional dependency (``pip install 'vpc-audit[demo]'``): it is imported lazily, so this
module imports fine without it.

The estate (account A = 123456789012, B = 222222222222, C = 333333333333, which is not audited):

* A/us-east-1 ``shop-prod``: private subnets reach the internet (and S3) through a NAT gateway and
  the VPC has no S3 gateway endpoint.
* A/us-east-1 ``shop-staging``: S3 gateway endpoint on the main route table (healthy) but not on
  the ``shop-staging-batch`` table, which also egresses through the NAT gateway.
* ``prod-to-analytics`` (A/us-east-1 <-> B/us-east-1): healthy, routes both ways, DNS on both sides.
* ``prod-to-sandbox`` (A/us-east-1 -> B/us-east-1): left pending acceptance.
* ``staging-to-eu`` (A/us-east-1 <-> A/eu-west-1): active, but no return route in ``shop-eu`` and
  DNS resolution off on both sides.
* B/eu-west-1 ``analytics-eu`` <-> C/eu-west-1 ``vendor-link``: the peer side is in an unaudited
  account.
* B/eu-west-1 ``reporting-eu``: healthy NAT egress plus S3 gateway endpoint.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
import botocore.session

from auditor.errors import AuditError

if TYPE_CHECKING:
    from types_boto3_ec2.client import EC2Client
    from types_boto3_ec2.literals import ResourceTypeType
    from types_boto3_ec2.type_defs import TagSpecificationTypeDef

DEMO_ROLE = "VpcAuditDemoRole"
DEMO_ACCOUNTS = ("123456789012", "222222222222")
DEMO_REGIONS = ("us-east-1", "eu-west-1")
UNAUDITED_ACCOUNT = "333333333333"

_BASE_KEY = "testing"  # static keys that moto maps to its default account, DEMO_ACCOUNTS[0]
_MISSING_MOTO = "the demo needs moto: pip install 'vpc-audit[demo]'"


class MotoServer:
    """moto as a real HTTP server on 127.0.0.1 and a free port, in a background thread.

    moto keeps its state in process-wide globals: run one server per process and do not mix it
    with ``moto.mock_aws`` in the same process.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self.url = ""

    def start(self) -> Self:
        if self._server is not None:
            return self
        # Read by moto when its EC2 backends are built: set before moto is first used.
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise AuditError(_MISSING_MOTO) from exc
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # unimplemented APIs are expected
        # port=0 lets the OS pick a free port; the bound port is read back after start().
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Wipe all moto state (every account and region)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _session(key: str, secret: str, token: str | None = None) -> boto3.session.Session:
    # Pin the profile to "default" so a stray AWS_PROFILE naming a missing profile cannot break
    # the demo (explicit keys would win anyway, but botocore resolves the profile first).
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    return boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        botocore_session=core,
    )


def _sessions(endpoint_url: str) -> dict[str, boto3.session.Session]:
    """One session per demo account: A with the base keys, the others through sts:AssumeRole."""
    base = _session(_BASE_KEY, _BASE_KEY)
    sts = base.client("sts", region_name=DEMO_REGIONS[0], endpoint_url=endpoint_url)
    sessions = {DEMO_ACCOUNTS[0]: base}
    for account in (*DEMO_ACCOUNTS[1:], UNAUDITED_ACCOUNT):
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{DEMO_ROLE}", RoleSessionName="demo-seed"
        )["Credentials"]
        sessions[account] = _session(
            creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
        )
    return sessions


def _tags(kind: ResourceTypeType, name: str) -> list[TagSpecificationTypeDef]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]


@dataclass
class _Place:
    """Builds resources in one account-region and records their ids under symbolic keys."""

    ec2: EC2Client
    account: str
    region: str
    ids: dict[str, str]

    def _keep(self, key: str, resource_id: str) -> str:
        if key in self.ids:
            raise ValueError(f"duplicate demo key {key!r}")
        self.ids[key] = resource_id
        return resource_id

    def vpc(self, key: str, name: str, cidr: str) -> str:
        vpc = self.ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_tags("vpc", name))["Vpc"]
        return self._keep(key, vpc["VpcId"])

    def subnet(self, key: str, vpc: str, name: str, cidr: str, az: str = "a") -> str:
        subnet = self.ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=cidr,
            AvailabilityZone=f"{self.region}{az}",
            TagSpecifications=_tags("subnet", name),
        )["Subnet"]
        return self._keep(key, subnet["SubnetId"])

    def route(self, table: str, cidr: str, target: str) -> None:
        if target.startswith("igw-"):
            self.ec2.create_route(RouteTableId=table, DestinationCidrBlock=cidr, GatewayId=target)
        elif target.startswith("nat-"):
            self.ec2.create_route(
                RouteTableId=table, DestinationCidrBlock=cidr, NatGatewayId=target
            )
        elif target.startswith("pcx-"):
            self.ec2.create_route(
                RouteTableId=table, DestinationCidrBlock=cidr, VpcPeeringConnectionId=target
            )
        else:
            raise ValueError(f"unsupported route target {target!r}")

    def route_table(
        self,
        key: str,
        vpc: str,
        name: str,
        subnets: Iterable[str] = (),
        routes: Mapping[str, str] | None = None,
    ) -> str:
        table = self.ec2.create_route_table(
            VpcId=vpc, TagSpecifications=_tags("route-table", name)
        )["RouteTable"]["RouteTableId"]
        for subnet in subnets:
            self.ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        for cidr, target in (routes or {}).items():
            self.route(table, cidr, target)
        return self._keep(key, table)

    def main_table(self, key: str, vpc: str, name: str, routes: Mapping[str, str]) -> str:
        # Fetch and filter here: moto does not implement every route-table filter.
        tables = self.ec2.describe_route_tables()["RouteTables"]
        table = next(
            t["RouteTableId"]
            for t in tables
            if t.get("VpcId") == vpc and any(a.get("Main") for a in t.get("Associations", []))
        )
        self.ec2.create_tags(Resources=[table], Tags=[{"Key": "Name", "Value": name}])
        for cidr, target in routes.items():
            self.route(table, cidr, target)
        return self._keep(key, table)

    def public_tier(self, short: str, vpc: str, name: str, cidr: str) -> str:
        """A public subnet routed to a new internet gateway, with a NAT gateway; returns the NAT."""
        subnet = self.subnet(f"subnet_{short}_public", vpc, f"{name}-public", cidr)
        igw = self.ec2.create_internet_gateway(
            TagSpecifications=_tags("internet-gateway", f"{name}-igw")
        )["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self._keep(f"igw_{short}", igw)
        self.route_table(f"rtb_{short}_public", vpc, f"{name}-public", [subnet], {"0.0.0.0/0": igw})
        eip = self.ec2.allocate_address(
            Domain="vpc", TagSpecifications=_tags("elastic-ip", f"{name}-nat")
        )["AllocationId"]
        self._keep(f"eip_{short}_nat", eip)
        nat = self.ec2.create_nat_gateway(
            SubnetId=subnet,
            AllocationId=eip,
            TagSpecifications=_tags("natgateway", f"{name}-nat"),
        )["NatGateway"]["NatGatewayId"]
        return self._keep(f"nat_{short}", nat)

    def s3_endpoint(self, key: str, vpc: str, name: str, tables: list[str]) -> str:
        endpoint = self.ec2.create_vpc_endpoint(
            VpcEndpointType="Gateway",
            VpcId=vpc,
            ServiceName=f"com.amazonaws.{self.region}.s3",
            RouteTableIds=tables,
            TagSpecifications=_tags("vpc-endpoint", name),
        )["VpcEndpoint"]["VpcEndpointId"]
        return self._keep(key, endpoint)


def _peer(
    key: str,
    name: str,
    requester: _Place,
    vpc: str,
    accepter: _Place,
    peer_vpc: str,
    *,
    accept: bool = True,
    dns: bool = False,
) -> str:
    """Request from the requester's account-region; accept and set the accepter's options from
    the accepter's own account-region client, as AWS requires."""
    pcx = requester.ec2.create_vpc_peering_connection(
        VpcId=vpc,
        PeerVpcId=peer_vpc,
        PeerOwnerId=accepter.account,
        PeerRegion=accepter.region,
        TagSpecifications=_tags("vpc-peering-connection", name),
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    if accept:
        accepter.ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    if dns:
        requester.ec2.modify_vpc_peering_connection_options(
            VpcPeeringConnectionId=pcx,
            RequesterPeeringConnectionOptions={"AllowDnsResolutionFromRemoteVpc": True},
        )
        accepter.ec2.modify_vpc_peering_connection_options(
            VpcPeeringConnectionId=pcx,
            AccepterPeeringConnectionOptions={"AllowDnsResolutionFromRemoteVpc": True},
        )
    return requester._keep(key, pcx)


def seed_estate(endpoint_url: str) -> dict[str, str]:
    """Build the demo estate in the moto server at `endpoint_url`; returns symbolic key -> id."""
    sessions = _sessions(endpoint_url)
    ids: dict[str, str] = {}

    def place(account: str, region: str) -> _Place:
        ec2 = sessions[account].client("ec2", region_name=region, endpoint_url=endpoint_url)
        return _Place(ec2, account, region, ids)

    acct_a, acct_b = DEMO_ACCOUNTS
    use1, euw1 = DEMO_REGIONS
    a_use1, a_euw1 = place(acct_a, use1), place(acct_a, euw1)
    b_use1, b_euw1 = place(acct_b, use1), place(acct_b, euw1)
    c_euw1 = place(UNAUDITED_ACCOUNT, euw1)

    # A/us-east-1 shop-prod: NAT egress, no S3 endpoint.
    prod = a_use1.vpc("vpc_prod", "shop-prod", "10.10.0.0/16")
    nat = a_use1.public_tier("prod", prod, "shop-prod", "10.10.0.0/24")
    app_a = a_use1.subnet("subnet_prod_app_a", prod, "shop-prod-app-a", "10.10.1.0/24", "a")
    app_b = a_use1.subnet("subnet_prod_app_b", prod, "shop-prod-app-b", "10.10.2.0/24", "b")
    prod_private = a_use1.route_table(
        "rtb_prod_private", prod, "shop-prod-private", [app_a, app_b], {"0.0.0.0/0": nat}
    )

    # A/us-east-1 shop-staging: S3 endpoint on the main table only, not on the batch table.
    staging = a_use1.vpc("vpc_staging", "shop-staging", "10.20.0.0/16")
    nat = a_use1.public_tier("staging", staging, "shop-staging", "10.20.0.0/24")
    a_use1.subnet("subnet_staging_app", staging, "shop-staging-app", "10.20.1.0/24")
    batch = a_use1.subnet("subnet_staging_batch", staging, "shop-staging-batch", "10.20.2.0/24")
    staging_main = a_use1.main_table(
        "rtb_staging_main", staging, "shop-staging-main", {"0.0.0.0/0": nat}
    )
    a_use1.route_table(
        "rtb_staging_batch", staging, "shop-staging-batch", [batch], {"0.0.0.0/0": nat}
    )
    a_use1.s3_endpoint("vpce_staging_s3", staging, "shop-staging-s3", [staging_main])

    # B/us-east-1 analytics (healthy) and partner-sandbox (peering never accepted).
    analytics = b_use1.vpc("vpc_analytics", "analytics", "10.30.0.0/16")
    nat = b_use1.public_tier("analytics", analytics, "analytics", "10.30.0.0/24")
    analytics_app = b_use1.subnet(
        "subnet_analytics_app", analytics, "analytics-app", "10.30.1.0/24"
    )
    analytics_private = b_use1.route_table(
        "rtb_analytics_private",
        analytics,
        "analytics-private",
        [analytics_app],
        {"0.0.0.0/0": nat},
    )
    b_use1.s3_endpoint("vpce_analytics_s3", analytics, "analytics-s3", [analytics_private])
    sandbox = b_use1.vpc("vpc_sandbox", "partner-sandbox", "10.40.0.0/16")

    # A/eu-west-1 shop-eu: its private table never gets a route back to shop-staging.
    eu = a_euw1.vpc("vpc_eu", "shop-eu", "10.50.0.0/16")
    eu_app = a_euw1.subnet("subnet_eu_app", eu, "shop-eu-app", "10.50.1.0/24")
    a_euw1.route_table("rtb_eu_private", eu, "shop-eu-private", [eu_app])

    # B/eu-west-1 analytics-eu (peer in the unaudited account) and reporting-eu (healthy).
    analytics_eu = b_euw1.vpc("vpc_analytics_eu", "analytics-eu", "10.60.0.0/16")
    analytics_eu_app = b_euw1.subnet(
        "subnet_analytics_eu_app", analytics_eu, "analytics-eu-app", "10.60.1.0/24"
    )
    analytics_eu_private = b_euw1.route_table(
        "rtb_analytics_eu_private", analytics_eu, "analytics-eu-private", [analytics_eu_app]
    )
    reporting = b_euw1.vpc("vpc_reporting_eu", "reporting-eu", "10.80.0.0/16")
    nat = b_euw1.public_tier("reporting_eu", reporting, "reporting-eu", "10.80.0.0/24")
    reporting_app = b_euw1.subnet(
        "subnet_reporting_eu_app", reporting, "reporting-eu-app", "10.80.1.0/24"
    )
    reporting_private = b_euw1.route_table(
        "rtb_reporting_eu_private",
        reporting,
        "reporting-eu-private",
        [reporting_app],
        {"0.0.0.0/0": nat},
    )
    b_euw1.s3_endpoint("vpce_reporting_eu_s3", reporting, "reporting-eu-s3", [reporting_private])

    # C/eu-west-1 vendor-link, created through assume-role into the unaudited account.
    vendor = c_euw1.vpc("vpc_vendor", "vendor-link", "10.70.0.0/16")

    # Peerings, then the routes that use them.
    pcx = _peer("pcx_analytics", "prod-to-analytics", a_use1, prod, b_use1, analytics, dns=True)
    a_use1.route(prod_private, "10.30.0.0/16", pcx)
    b_use1.route(analytics_private, "10.10.0.0/16", pcx)

    _peer("pcx_pending", "prod-to-sandbox", a_use1, prod, b_use1, sandbox, accept=False)

    pcx = _peer("pcx_eu", "staging-to-eu", a_use1, staging, a_euw1, eu)
    a_use1.route(staging_main, "10.50.0.0/16", pcx)

    pcx = _peer(
        "pcx_vendor", "analytics-eu-to-vendor", b_euw1, analytics_eu, c_euw1, vendor, dns=True
    )
    b_euw1.route(analytics_eu_private, "10.70.0.0/16", pcx)

    return ids
