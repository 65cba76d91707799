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
  Its instances ``shop-prod-app`` and ``analytics-db`` are the blocked path to try with
  ``vpc-audit reach`` (on 5432: the database subnet's network ACL drops the replies, which
  peering-nacl-blocks reports).
* ``prod-to-sandbox`` (A/us-east-1 -> B/us-east-1): left pending acceptance.
* ``staging-to-eu`` (A/us-east-1 <-> A/eu-west-1): active, but no return route in ``shop-eu`` and
  DNS resolution off on both sides.
* B/eu-west-1 ``analytics-eu`` <-> C/eu-west-1 ``vendor-link``: the peer side is in an unaudited
  account.
* B/eu-west-1 ``reporting-eu``: healthy NAT egress plus S3 gateway endpoint.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    """moto as a real HTTP server on 127.0.0.1 and a free port, in a background thread, answering
    in AWS's shapes (auditor.moto_shapes) while it runs.

    The tests' server (tests/faults.py) subclasses it to count calls and inject latency and
    faults: `serve` is the WSGI app and `request_handler` the HTTP handler it may wrap.

    moto keeps its state in process-wide globals: every server in a process shares it. Do not
    mix servers with ``moto.mock_aws`` in the same process.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self._shapes: ExitStack | None = None
        self.url = ""

    def start(self) -> Self:
        if self._server is not None:
            return self
        # Read by moto when its EC2 backends are built: set before moto is first used.
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
        try:
            from moto.server import (  # type: ignore[attr-defined]  # re-exported, unlisted
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server
        except ImportError as exc:
            raise AuditError(_MISSING_MOTO) from exc
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # unimplemented APIs are expected
        from auditor.moto_shapes import aws_shapes

        self._shapes = ExitStack()
        self._shapes.enter_context(aws_shapes())
        self._app = DomainDispatcherApplication(create_backend_app)
        # port=0 lets the OS pick a free port; the bound port is read back from the socket.
        server = make_server(
            self._host,
            self._port,
            self.serve,
            threaded=True,
            request_handler=self.request_handler(MotoRequestHandler),
        )
        self._thread = threading.Thread(
            target=server.serve_forever, name="moto-server", daemon=True
        )
        self._thread.start()
        self._server = server
        self.url = f"http://{self._host}:{server.port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._shapes is not None:
            self._shapes.close()
            self._shapes = None

    def serve(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI app the server runs: moto's."""
        return self._app(environ, start_response)

    def request_handler(self, base: type[Any]) -> type[Any]:
        """The HTTP request handler the server uses, given moto's: moto's."""
        return base

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
    logs: Any
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
        # Hostnames on, as in most real estates (peering DNS and private DNS need it).
        self.ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": True})
        return self._keep(key, vpc["VpcId"])

    def flow_log(self, vpc: str, name: str) -> None:
        """A working VPC flow log to CloudWatch Logs (the log group must exist to deliver)."""
        group = f"/vpc/{name}"
        self.logs.create_log_group(logGroupName=group)
        self.ec2.create_flow_logs(
            ResourceIds=[vpc],
            ResourceType="VPC",
            TrafficType="ALL",
            LogGroupName=group,
            DeliverLogsPermissionArn=f"arn:aws:iam::{self.account}:role/flow-logs",
        )

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
        elif target.startswith("tgw-"):
            self.ec2.create_route(
                RouteTableId=table, DestinationCidrBlock=cidr, TransitGatewayId=target
            )
        elif target.startswith("vpce-"):
            self.ec2.create_route(
                RouteTableId=table, DestinationCidrBlock=cidr, VpcEndpointId=target
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

    def gateway_endpoint(
        self,
        key: str,
        vpc: str,
        name: str,
        tables: list[str],
        service: str = "s3",
        own_account_only: bool = True,
    ) -> str:
        # Healthy endpoints admit only this account's principals; AWS's default admits anyone.
        statement: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": "*"}
        statement["Resource"] = "*"
        if own_account_only:
            statement["Condition"] = {"StringEquals": {"aws:PrincipalAccount": self.account}}
        endpoint = self.ec2.create_vpc_endpoint(
            VpcEndpointType="Gateway",
            VpcId=vpc,
            ServiceName=f"com.amazonaws.{self.region}.{service}",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
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


def _database_behind_acl(
    prod: _Place, analytics: _Place, app_subnet: str, vpc: str, db_subnet: str
) -> None:
    """A blocked path for `vpc-audit reach`: shop-prod's app instance and analytics' database
    instance across prod-to-analytics. The database's group and its subnet's network ACL admit
    the app on 5432, but the ACL lets out only HTTPS and the VPC's own traffic: the replies to
    the app's ephemeral ports are dropped (reach names the ACL and the rule to add)."""
    _server_behind_acl(
        prod, analytics, app_subnet, vpc, db_subnet, ("shop-prod-app", "analytics-db"), 5432,
        "10.10.0.0/16",
        (
            (100, False, "6", (5432, 5432), "10.10.0.0/16"),
            (110, False, "-1", (0, 65535), "10.30.0.0/16"),
            (120, False, "6", (1024, 65535), "0.0.0.0/0"),  # replies from the internet, by the NAT
            (100, True, "6", (443, 443), "0.0.0.0/0"),
            (110, True, "-1", (0, 65535), "10.30.0.0/16"),
        ),
        ("instance_prod_app", "sg_analytics_db", "instance_analytics_db", "acl_analytics_app"),
        "analytics-app",
    )  # fmt: skip


def _server_behind_acl(
    client: _Place,
    server: _Place,
    client_subnet: str,
    vpc: str,
    server_subnet: str,
    names: tuple[str, str],
    port: int,
    client_range: str,
    entries: Iterable[tuple[int, bool, str, tuple[int, int], str]],
    keys: tuple[str, str, str, str],
    acl_name: str,
) -> None:
    """A client instance, and a server instance whose group admits `client_range` on `port`
    behind a new network ACL of `entries` (rule number, egress, protocol, ports, CIDR); `keys`
    name the client instance, the group, the server instance and the ACL."""
    client_name, server_name = names
    client._keep(keys[0], _instance(client, client_subnet, client_name, []))
    group = server.ec2.create_security_group(
        GroupName=server_name, Description=f"tcp {port} from {client_range}", VpcId=vpc
    )["GroupId"]
    server.ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "IpRanges": [{"CidrIp": client_range}],
            }
        ],
    )
    server._keep(keys[1], group)
    server._keep(keys[2], _instance(server, server_subnet, server_name, [group]))
    acl = server.ec2.create_network_acl(
        VpcId=vpc, TagSpecifications=_tags("network-acl", acl_name)
    )["NetworkAcl"]["NetworkAclId"]
    for number, egress, protocol, ports, cidr in entries:
        server.ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=number,
            Protocol=protocol,
            RuleAction="allow",
            Egress=egress,
            CidrBlock=cidr,
            PortRange={"From": ports[0], "To": ports[1]},  # ignored for all protocols (-1)
        )
    current = next(
        a["NetworkAclAssociationId"]
        for n in server.ec2.describe_network_acls()["NetworkAcls"]
        for a in n.get("Associations", [])
        if a.get("SubnetId") == server_subnet
    )
    server.ec2.replace_network_acl_association(AssociationId=current, NetworkAclId=acl)
    server._keep(keys[3], acl)


def _instance(place: _Place, subnet: str, name: str, groups: list[str]) -> str:
    extra: dict[str, Any] = {"SecurityGroupIds": groups} if groups else {}
    return str(
        place.ec2.run_instances(
            ImageId="ami-00000000000000000",
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet,
            TagSpecifications=_tags("instance", name),
            **extra,
        )["Instances"][0]["InstanceId"]
    )


def seed_estate(endpoint_url: str, *, hub: bool = True) -> dict[str, str]:
    """Build the demo estate in the moto server at `endpoint_url`; returns symbolic key -> id.
    `hub=False` leaves out the hub-and-spoke part (seed_hub)."""
    sessions = _sessions(endpoint_url)
    ids: dict[str, str] = {}

    def place(account: str, region: str) -> _Place:
        session = sessions[account]
        ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint_url)
        logs = session.client("logs", region_name=region, endpoint_url=endpoint_url)
        return _Place(ec2, logs, account, region, ids)

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
    a_use1.gateway_endpoint(
        "vpce_staging_s3", staging, "shop-staging-s3", [staging_main], own_account_only=False
    )

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
    b_use1.gateway_endpoint("vpce_analytics_s3", analytics, "analytics-s3", [analytics_private])
    b_use1.gateway_endpoint(
        "vpce_analytics_ddb", analytics, "analytics-dynamodb", [analytics_private], "dynamodb"
    )
    b_use1.flow_log(analytics, "analytics")
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
    b_euw1.gateway_endpoint(
        "vpce_reporting_eu_s3", reporting, "reporting-eu-s3", [reporting_private]
    )
    b_euw1.gateway_endpoint(
        "vpce_reporting_eu_ddb", reporting, "reporting-eu-dynamodb", [reporting_private], "dynamodb"
    )
    b_euw1.flow_log(reporting, "reporting-eu")

    # C/eu-west-1 vendor-link, created through assume-role into the unaudited account.
    vendor = c_euw1.vpc("vpc_vendor", "vendor-link", "10.70.0.0/16")

    # Peerings, then the routes that use them.
    # Healthy: routes name exactly the subnets that talk, both ways.
    pcx = _peer("pcx_analytics", "prod-to-analytics", a_use1, prod, b_use1, analytics, dns=True)
    a_use1.route(prod_private, "10.30.1.0/24", pcx)
    b_use1.route(analytics_private, "10.10.1.0/24", pcx)
    b_use1.route(analytics_private, "10.10.2.0/24", pcx)

    _database_behind_acl(a_use1, b_use1, app_a, analytics, analytics_app)

    _peer("pcx_pending", "prod-to-sandbox", a_use1, prod, b_use1, sandbox, accept=False)

    pcx = _peer("pcx_eu", "staging-to-eu", a_use1, staging, a_euw1, eu)
    a_use1.route(staging_main, "10.50.0.0/16", pcx)

    pcx = _peer(
        "pcx_vendor", "analytics-eu-to-vendor", b_euw1, analytics_eu, c_euw1, vendor, dns=True
    )
    b_euw1.route(analytics_eu_private, "10.70.0.0/16", pcx)

    ids = seed_hub(endpoint_url, ids) if hub else ids
    _nat_traffic(sessions, endpoint_url, ids)
    return ids


# What the demo's NAT gateways processed (GiB, five days ago), for the cost on the egress
# findings; shop-staging's gateway has no data: "no data in 30 days".
NAT_TRAFFIC = {
    ("nat_prod", DEMO_ACCOUNTS[0], DEMO_REGIONS[0]): 1400,
    ("nat_analytics", DEMO_ACCOUNTS[1], DEMO_REGIONS[0]): 230,
    ("nat_egress", DEMO_ACCOUNTS[0], DEMO_REGIONS[0]): 620,
}


def _nat_traffic(
    sessions: dict[str, boto3.session.Session], endpoint_url: str, ids: dict[str, str]
) -> None:
    when = datetime.now(UTC) - timedelta(days=5)
    for (key, account, region), gib in NAT_TRAFFIC.items():
        if key not in ids:
            continue  # the hub part left out
        cloudwatch = sessions[account].client(
            "cloudwatch", region_name=region, endpoint_url=endpoint_url
        )
        cloudwatch.put_metric_data(
            Namespace="AWS/NATGateway",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "NatGatewayId", "Value": ids[key]}],
                    "Value": gib * share * 2**30,
                    "Unit": "Bytes",
                    "Timestamp": when,
                }
                for metric, share in (("BytesInFromSource", 0.2), ("BytesInFromDestination", 0.8))
            ],
        )


def seed_hub(endpoint_url: str, ids: dict[str, str]) -> dict[str, str]:
    """Add the hub-and-spoke estate (A/us-east-1 owns the hub): centralised egress through a
    transit gateway shared with account B through AWS RAM.

    * ``egress-hub`` (A): the NAT gateway every spoke's internet traffic leaves by, after a
      firewall (Gateway Load Balancer endpoint) inspects it; the attachment subnets' and the
      firewall's tables must stay quiet, and the attachment has appliance mode off.
    * ``payments`` (A): no gateway endpoints, so S3 and DynamoDB traffic crosses the hub to the
      egress NAT gateway; a subnet in a zone the attachment does not cover.
    * ``ledger`` (B): its own S3 and DynamoDB gateway endpoints (the healthy look-alike), DNS
      support off on its attachment, and no route to it in the egress VPC's hub table (so the
      egress VPC cannot reach it and payments' replies to it are dropped).
    * ``partner-sandbox`` (B): an attachment left pending acceptance.
    * The hub accepts shared attachments automatically, keeps a deliberate blackhole route
      (quiet) and a static route to the attachment of a VPC that was retired.
    * ``vendor-hub`` (C, not audited, eu-west-1) is shared with B; analytics-eu routes to it:
      where that traffic goes is unknown to the audit, and said so.
    """
    from auditor.moto_shapes import attach_across_accounts

    sessions = _sessions(endpoint_url)
    acct_a, acct_b = DEMO_ACCOUNTS
    use1 = DEMO_REGIONS[0]

    def place(account: str) -> _Place:
        session = sessions[account]
        return _Place(
            session.client("ec2", region_name=use1, endpoint_url=endpoint_url),
            session.client("logs", region_name=use1, endpoint_url=endpoint_url),
            account,
            use1,
            ids,
        )

    a, b = place(acct_a), place(acct_b)
    hub = a.ec2.create_transit_gateway(
        Description="org-hub",
        Options={
            "AutoAcceptSharedAttachments": "enable",
            "DefaultRouteTableAssociation": "disable",
            "DefaultRouteTablePropagation": "disable",
            "DnsSupport": "enable",
        },
        TagSpecifications=_tags("transit-gateway", "org-hub"),
    )["TransitGateway"]["TransitGatewayId"]
    a._keep("tgw_hub", hub)
    sessions[acct_a].client(
        "ram", region_name=use1, endpoint_url=endpoint_url
    ).create_resource_share(
        name="org-hub",
        resourceArns=[f"arn:aws:ec2:{use1}:{acct_a}:transit-gateway/{hub}"],
        principals=[acct_b],
    )

    def attach(key: str, vpc: str, subnets: list[str]) -> str:
        attachment = a.ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=hub,
            VpcId=vpc,
            SubnetIds=subnets,
            TagSpecifications=_tags("transit-gateway-attachment", key),
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        return a._keep(key, attachment)

    # egress-hub (A): the spokes' traffic enters by the attachment subnets, is inspected by a
    # firewall (Gateway Load Balancer endpoint), then leaves by the NAT gateway.
    egress = a.vpc("vpc_egress", "egress-hub", "10.100.0.0/16")
    nat = a.public_tier("egress", egress, "egress-hub", "10.100.0.0/24")
    tgw_a = a.subnet("subnet_egress_tgw_a", egress, "egress-hub-tgw-a", "10.100.255.0/28", "a")
    tgw_b = a.subnet("subnet_egress_tgw_b", egress, "egress-hub-tgw-b", "10.100.255.16/28", "b")
    firewall_subnet = a.subnet(
        "subnet_egress_fw", egress, "egress-hub-firewall", "10.100.254.0/28", "a"
    )
    firewall = a.ec2.create_vpc_endpoint(
        VpcEndpointType="GatewayLoadBalancer",
        VpcId=egress,
        ServiceName=f"com.amazonaws.vpce.{use1}.vpce-svc-0f1e2d3c4b5a69788",
        SubnetIds=[firewall_subnet],
        TagSpecifications=_tags("vpc-endpoint", "egress-hub-firewall"),
    )["VpcEndpoint"]["VpcEndpointId"]
    a._keep("vpce_egress_firewall", firewall)
    a.route_table(
        "rtb_egress_tgw",
        egress,
        "egress-hub-tgw",
        [tgw_a, tgw_b],
        {"0.0.0.0/0": firewall, "10.0.0.0/8": hub},
    )
    a.route_table(
        "rtb_egress_fw",
        egress,
        "egress-hub-firewall",
        [firewall_subnet],
        {"0.0.0.0/0": nat, "10.0.0.0/8": hub},
    )
    a.route(ids["rtb_egress_public"], "10.0.0.0/8", firewall)
    egress_attachment = attach("tgw_attach_egress", egress, [tgw_a, tgw_b])
    a.flow_log(egress, "egress-hub")

    # payments (A): everything to the hub, no endpoints, a zone without an attachment subnet.
    payments = a.vpc("vpc_payments", "payments", "10.110.0.0/16")
    app_a = a.subnet("subnet_payments_app_a", payments, "payments-app-a", "10.110.1.0/24", "a")
    app_b = a.subnet("subnet_payments_app_b", payments, "payments-app-b", "10.110.2.0/24", "b")
    pay_tgw = a.subnet("subnet_payments_tgw", payments, "payments-tgw-a", "10.110.255.0/28", "a")
    a.route_table(
        "rtb_payments_private",
        payments,
        "payments-private",
        [app_a, app_b, pay_tgw],
        {"0.0.0.0/0": hub},
    )
    payments_attachment = attach("tgw_attach_payments", payments, [pay_tgw])
    a.flow_log(payments, "payments")

    # ledger (B): its own gateway endpoints; attached across accounts with DNS support off.
    ledger = b.vpc("vpc_ledger", "ledger", "10.120.0.0/16")
    ledger_app = b.subnet("subnet_ledger_app", ledger, "ledger-app-a", "10.120.1.0/24", "a")
    ledger_tgw = b.subnet("subnet_ledger_tgw", ledger, "ledger-tgw-a", "10.120.255.0/28", "a")
    ledger_private = b.route_table(
        "rtb_ledger_private", ledger, "ledger-private", [ledger_app, ledger_tgw]
    )
    b.gateway_endpoint("vpce_ledger_s3", ledger, "ledger-s3", [ledger_private])
    b.gateway_endpoint("vpce_ledger_ddb", ledger, "ledger-dynamodb", [ledger_private], "dynamodb")
    b.flow_log(ledger, "ledger")
    ledger_attachment = a._keep(
        "tgw_attach_ledger",
        attach_across_accounts(
            acct_a, acct_b, use1, hub, ledger, [ledger_tgw], options={"DnsSupport": "disable"}
        ),
    )
    b.route(ledger_private, "0.0.0.0/0", hub)  # once B sees the shared hub

    # partner-sandbox (B, built by seed_estate): an attachment nobody accepted.
    sandbox_tgw = b.subnet(
        "subnet_sandbox_tgw", ids["vpc_sandbox"], "partner-sandbox-tgw", "10.40.255.0/28", "a"
    )
    a._keep(
        "tgw_attach_sandbox",
        attach_across_accounts(
            acct_a, acct_b, use1, hub, ids["vpc_sandbox"], [sandbox_tgw], "pendingAcceptance"
        ),
    )

    # retired-app (A): attached, routed to, then its attachment deleted.
    retired = a.vpc("vpc_retired", "retired-app", "10.130.0.0/16")
    retired_subnet = a.subnet("subnet_retired", retired, "retired-app-tgw", "10.130.255.0/28")
    retired_attachment = attach("tgw_attach_retired", retired, [retired_subnet])

    # payments' app uses egress-hub's proxy, whose subnet's ACL drops the replies (tgw-nacl-blocks).
    proxy = a.subnet("subnet_egress_proxy", egress, "egress-hub-proxy", "10.100.1.0/24", "a")
    a.ec2.associate_route_table(RouteTableId=ids["rtb_egress_public"], SubnetId=proxy)
    _server_behind_acl(
        a, a, app_a, egress, proxy, ("payments-app", "egress-proxy"), 3128, "10.110.0.0/16",
        (
            (100, False, "6", (3128, 3128), "10.0.0.0/8"),
            (110, False, "6", (1024, 65535), "0.0.0.0/0"),  # replies to its HTTPS fetches
            (100, True, "6", (443, 443), "0.0.0.0/0"),
        ),
        ("instance_payments_app", "sg_egress_proxy", "instance_egress_proxy", "acl_egress_proxy"),
        "egress-hub-proxy",
    )  # fmt: skip

    # The hub's route tables: the spokes' (default route to egress) and egress's (back).
    def hub_table(key: str, name: str, attachments: list[str], routes: Mapping[str, str]) -> str:
        table = a.ec2.create_transit_gateway_route_table(
            TransitGatewayId=hub, TagSpecifications=_tags("transit-gateway-route-table", name)
        )["TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
        for attachment in attachments:
            a.ec2.associate_transit_gateway_route_table(
                TransitGatewayRouteTableId=table, TransitGatewayAttachmentId=attachment
            )
        for cidr, target in routes.items():
            where = {"Blackhole": True} if target == "blackhole" else {}
            a.ec2.create_transit_gateway_route(
                DestinationCidrBlock=cidr,
                TransitGatewayRouteTableId=table,
                **({"TransitGatewayAttachmentId": target} if target != "blackhole" else where),
            )
        return a._keep(key, table)

    hub_table(
        "tgw_rtb_spokes",
        "hub-spokes",
        [payments_attachment, ledger_attachment],
        {
            "0.0.0.0/0": egress_attachment,
            "10.100.0.0/16": egress_attachment,
            "10.99.0.0/16": "blackhole",
            "10.130.0.0/16": retired_attachment,
        },
    )
    hub_table(
        "tgw_rtb_egress", "hub-egress", [egress_attachment], {"10.110.0.0/16": payments_attachment}
    )
    a.ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=retired_attachment)

    # vendor-hub (C, not audited, eu-west-1), shared with B: analytics-eu routes to it, and
    # nobody in the audit can read where it sends that traffic.
    euw1 = DEMO_REGIONS[1]
    c_ec2 = sessions[UNAUDITED_ACCOUNT].client("ec2", region_name=euw1, endpoint_url=endpoint_url)
    vendor_hub = c_ec2.create_transit_gateway(
        Description="vendor-hub", TagSpecifications=_tags("transit-gateway", "vendor-hub")
    )["TransitGateway"]["TransitGatewayId"]
    a._keep("tgw_vendor", vendor_hub)
    b_euw1 = sessions[acct_b].client("ec2", region_name=euw1, endpoint_url=endpoint_url)
    vendor_subnet = b_euw1.create_subnet(
        VpcId=ids["vpc_analytics_eu"],
        CidrBlock="10.60.255.0/28",
        AvailabilityZone=f"{euw1}a",
        TagSpecifications=_tags("subnet", "analytics-eu-tgw"),
    )["Subnet"]["SubnetId"]
    a._keep(
        "tgw_attach_vendor",
        attach_across_accounts(
            UNAUDITED_ACCOUNT, acct_b, euw1, vendor_hub, ids["vpc_analytics_eu"], [vendor_subnet]
        ),
    )
    b_euw1.create_route(
        RouteTableId=ids["rtb_analytics_eu_private"],
        DestinationCidrBlock="10.71.0.0/16",
        TransitGatewayId=vendor_hub,
    )
    return ids
