"""A hub-and-spoke estate with centralised egress, as hand-built snapshot pieces.

Network account A owns transit gateway tgw-1 and the egress VPC (NAT gateway, internet
gateway). Spoke 1 (account A) sends everything to the hub; spoke 2 (account B, attached to the
shared hub) has its own S3 gateway endpoint. The hub has two route tables: the spokes' (default
route to the egress attachment) and the egress VPC's (a propagated route back to each spoke).
"""

from __future__ import annotations

from typing import Any

from auditor.model import (
    Endpoint,
    TransitGateway,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
)
from tests.builders import R1, S3_PL, A, B, route, s3_endpoint, subnet, table, vpc

AZ_A, AZ_B = "us-east-1a", "us-east-1b"


def tgw(id: str = "tgw-1", account: str = A, **extra: Any) -> TransitGateway:
    options = {"dns_support": True, "auto_accept_shared_attachments": False, **extra}
    return TransitGateway(id, account, R1, **options)


def attachment(
    id: str,
    vpc_id: str,
    *subnets: str,
    tgw_id: str = "tgw-1",
    owner: str = A,
    account: str = A,
    **extra: Any,
) -> TransitGatewayAttachment:
    options = {"dns_support": True, "appliance_mode_support": False, **extra}
    return TransitGatewayAttachment(
        id,
        account,
        R1,
        tgw_id,
        "vpc",
        resource_id=vpc_id,
        resource_owner_id=owner,
        subnet_ids=list(subnets),
        **options,
    )


def hub_route(
    destination: str, *attachments: str, kind: str = "static", state: str = "active"
) -> TransitGatewayRoute:
    if destination.startswith("pl-"):
        return TransitGatewayRoute(
            kind, state, destination_prefix_list_id=destination, attachment_ids=list(attachments)
        )
    return TransitGatewayRoute(
        kind, state, destination_cidr=destination, attachment_ids=list(attachments)
    )


def hub_table(
    id: str,
    *routes: TransitGatewayRoute,
    associations: tuple[str, ...] = (),
    tgw_id: str = "tgw-1",
    account: str = A,
) -> TransitGatewayRouteTable:
    return TransitGatewayRouteTable(
        id,
        account,
        R1,
        tgw_id,
        associations=list(associations),
        routes=list(routes),
    )


def spoke(
    name: str, cidr: str, account: str = A, *, endpoints: bool = False, az: str = AZ_A
) -> list[Any]:
    """A spoke VPC: an app subnet and an attachment subnet, everything else to the hub."""
    vpc_id, base = f"vpc-{name}", cidr.split(".0.0/")[0]
    routes = [route(cidr, "local"), route("0.0.0.0/0", "tgw-1")]
    items: list[Any] = [
        vpc(vpc_id, cidr, account=account, tags={"Name": name}),
        subnet(f"subnet-{name}-app", vpc_id, f"{base}.1.0/24", account, availability_zone=az),
        subnet(f"subnet-{name}-tgw", vpc_id, f"{base}.255.0/28", account, availability_zone=az),
    ]
    if endpoints:
        routes.append(route(S3_PL, f"vpce-{name}"))
        items.append(s3_endpoint(f"vpce-{name}", vpc_id, f"rtb-{name}", account=account))
    items.append(
        table(
            f"rtb-{name}",
            vpc_id,
            *routes,
            subnets=(f"subnet-{name}-app", f"subnet-{name}-tgw"),
            account=account,
        )
    )
    items.append(attachment(f"tgw-attach-{name}", vpc_id, f"subnet-{name}-tgw", owner=account))
    return items


def egress_vpc() -> list[Any]:
    """The egress VPC: attachment subnets default-route to the NAT gateway, the public subnet
    to the internet gateway; both send the spokes' space back to the hub."""
    return [
        vpc("vpc-egress", "10.100.0.0/16", tags={"Name": "egress"}),
        subnet("subnet-eg-tgw", "vpc-egress", "10.100.255.0/28", availability_zone=AZ_A),
        subnet("subnet-eg-pub", "vpc-egress", "10.100.0.0/24", availability_zone=AZ_A),
        table(
            "rtb-eg-tgw",
            "vpc-egress",
            route("10.100.0.0/16", "local"),
            route("0.0.0.0/0", "nat-eg"),
            route("10.0.0.0/8", "tgw-1"),
            subnets=("subnet-eg-tgw",),
        ),
        table(
            "rtb-eg-pub",
            "vpc-egress",
            route("10.100.0.0/16", "local"),
            route("0.0.0.0/0", "igw-eg"),
            route("10.0.0.0/8", "tgw-1"),
            subnets=("subnet-eg-pub",),
        ),
        attachment("tgw-attach-egress", "vpc-egress", "subnet-eg-tgw"),
    ]


def hub_estate(*, spoke2_endpoints: bool = True) -> list[Any]:
    """Everything above, with the hub's two route tables."""
    return [
        tgw(),
        *spoke("spoke1", "10.1.0.0/16"),
        *spoke("spoke2", "10.2.0.0/16", B, endpoints=spoke2_endpoints),
        *egress_vpc(),
        hub_table(
            "tgw-rtb-spokes",
            hub_route("0.0.0.0/0", "tgw-attach-egress"),
            hub_route("10.100.0.0/16", "tgw-attach-egress", kind="propagated"),
            associations=("tgw-attach-spoke1", "tgw-attach-spoke2"),
        ),
        hub_table(
            "tgw-rtb-egress",
            hub_route("10.1.0.0/16", "tgw-attach-spoke1", kind="propagated"),
            hub_route("10.2.0.0/16", "tgw-attach-spoke2", kind="propagated"),
            associations=("tgw-attach-egress",),
        ),
    ]


def with_inspection(items: list[Any]) -> list[Any]:
    """AWS's centralised egress with inspection: the egress VPC's attachment subnets send the
    spokes' traffic to a firewall (Gateway Load Balancer endpoint), whose subnet's table sends
    it on to the NAT gateway."""
    eg_tgw = next(i for i in items if getattr(i, "id", "") == "rtb-eg-tgw")
    eg_tgw.routes[1] = route("0.0.0.0/0", "vpce-fw")
    return [
        *items,
        subnet("subnet-eg-fw", "vpc-egress", "10.100.254.0/28", availability_zone=AZ_A),
        Endpoint(
            "vpce-fw", A, R1, "vpc-egress", "GatewayLoadBalancer", "com.amazonaws.vpce.x",
            subnet_ids=["subnet-eg-fw"],
        ),
        table("rtb-eg-fw", "vpc-egress", route("0.0.0.0/0", "nat-eg"), subnets=("subnet-eg-fw",)),
    ]  # fmt: skip
