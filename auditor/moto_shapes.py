"""moto answering as the EC2 API reference does where moto 5.2 differs for our APIs.

The demo's server and the tests run with these patches, so the collector is shown and tested
against AWS's shapes; the product itself reads AWS's shapes only (shared/moto-notes.md lists the
differences). Imported only when a moto server starts: moto is an optional dependency.

- SearchTransitGatewayRoutes: a static route's TransitGatewayAttachments is a list (moto keeps a
  dict), and an enabled propagation installs a route per CIDR of the attached VPC (moto installs
  none); a static route for the same CIDR wins.
- An attachment is associated with the default route table only where the transit gateway's
  DefaultRouteTableAssociation says so, and names the table it is associated with.
- TransitGatewayOwnerId is the transit gateway's owner.
- A static route whose attachment was deleted is a blackhole that still names the attachment
  (moto keeps it active and forgets the attachment).
- DescribeVpcEndpointServices reads a filter's values under "Values" (moto reads "Value").
- Cross-account sharing (AWS RAM) is not simulated by moto: `attach_across_accounts` hands the
  participant's backend the owner's transit gateway and lists the attachment on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock


def search_routes(
    self: Any, transit_gateway_route_table_id: str, filters: Any, max_results: Any = None
) -> list[dict[str, Any]]:
    from moto.ec2.models import ec2_backends

    table = self.transit_gateways_route_tables.get(transit_gateway_route_table_id)
    if table is None:
        return []
    routes: dict[str, dict[str, Any]] = {}
    for prop in table.route_table_propagation:
        attachment = self.transit_gateway_attachments.get(prop.transitGatewayAttachmentId)
        if attachment is None or attachment.resource_type != "vpc":
            continue
        owner = ec2_backends[attachment.resource_owner_id][self.region_name]
        vpc = owner.vpcs[attachment.resource_id]
        routes[vpc.cidr_block] = route_shape(vpc.cidr_block, "propagated", "active", attachment)
    for cidr, route in table.routes.items():
        attached = route.get("transitGatewayAttachments")
        attachment_id = attached["transitGatewayAttachmentId"] if attached else ""
        attachment = self.transit_gateway_attachments.get(attachment_id)
        if attachment_id and attachment is None:  # deleted: the route is a blackhole now
            routes[cidr] = route_shape(cidr, "static", "blackhole", None)
            routes[cidr]["transitGatewayAttachments"] = [
                {"transitGatewayAttachmentId": attachment_id}
            ]
            continue
        routes[cidr] = route_shape(cidr, "static", str(route["state"]), attachment)
    wanted = filters.get("type") or ["static", "propagated"]
    return [r for r in routes.values() if r["type"] in wanted]


def route_shape(cidr: str, kind: str, state: str, attachment: Any) -> dict[str, Any]:
    attachments = (
        [
            {
                "resourceId": attachment.resource_id,
                "resourceType": attachment.resource_type,
                "transitGatewayAttachmentId": attachment.id,
            }
        ]
        if attachment is not None and state != "blackhole"
        else []
    )
    return {
        "destinationCidrBlock": cidr,
        "type": kind,
        "state": state,
        "transitGatewayAttachments": attachments,
    }


def association(self: Any) -> dict[str, str] | None:
    """The table the attachment is associated with (moto keeps naming the default table)."""
    data = self._association_data
    if data:
        return {
            "State": data["state"],
            "TransitGatewayRouteTableId": data["transitGatewayRouteTableId"],
        }
    if self.transit_gateway_route_table is not None:
        return {
            "State": "associated",
            "TransitGatewayRouteTableId": self.transit_gateway_route_table.id,
        }
    return None


@contextmanager
def aws_shapes() -> Iterator[None]:
    """moto, process-wide, answering in AWS's shapes for as long as the context lasts."""
    from moto.ec2.models.transit_gateway_attachments import (
        TransitGatewayAttachment,
        TransitGatewayAttachmentBackend,
    )
    from moto.ec2.models.transit_gateway_route_tables import TransitGatewayRouteTableBackend
    from moto.ec2.models.vpcs import VPCBackend

    real_create = TransitGatewayAttachmentBackend.create_transit_gateway_vpc_attachment
    real_filter = VPCBackend._filter_endpoint_services

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        attachment = real_create(self, *args, **kwargs)
        tgw = self.transit_gateways[attachment.transit_gateway_id]
        if tgw.options.get("DefaultRouteTableAssociation") == "disable":
            tgw.default_route_table.route_table_associations.pop(attachment.id, None)
            attachment.transit_gateway_route_table = None
        return attachment

    def filter_services(names: list[str], filters: list[dict[str, Any]], services: Any) -> Any:
        filters = [{**f, "Value": f.get("Value", f.get("Values", []))} for f in filters]
        return real_filter(names, filters, services)

    patches: list[Any] = [
        mock.patch.object(
            TransitGatewayRouteTableBackend, "search_transit_gateway_routes", search_routes
        ),
        mock.patch.object(TransitGatewayAttachment, "association", property(association)),
        mock.patch.object(
            TransitGatewayAttachment,
            "transit_gateway_owner_id",
            property(lambda self: self.owner_id),
            create=True,
        ),
        mock.patch.object(
            TransitGatewayAttachmentBackend, "create_transit_gateway_vpc_attachment", create
        ),
        mock.patch.object(VPCBackend, "_filter_endpoint_services", staticmethod(filter_services)),
    ]
    with ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        yield


def attach_across_accounts(
    owner: str,
    participant: str,
    region: str,
    tgw_id: str,
    vpc_id: str,
    subnet_ids: list[str],
    state: str = "available",
    options: dict[str, str] | None = None,
) -> str:
    """A VPC of `participant` attached to `owner`'s transit gateway, as after a RAM share: both
    accounts see the transit gateway and the attachment. Returns the attachment id."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.transit_gateway_attachments import TransitGatewayVpcAttachment

    owning, joining = ec2_backends[owner][region], ec2_backends[participant][region]
    tgw = owning.transit_gateways[tgw_id]
    joining.transit_gateways[tgw_id] = tgw
    attachment = TransitGatewayVpcAttachment(owning, tgw, vpc_id, subnet_ids)
    attachment.resource_owner_id = participant
    attachment.state = state
    attachment.options = {**attachment.options, **(options or {})}
    owning.transit_gateway_attachments[attachment.id] = attachment
    joining.transit_gateway_attachments[attachment.id] = attachment
    return str(attachment.id)
