"""VPC DNS attributes: the VPC-level switches that endpoint private DNS and peering DNS rely on.

The snapshot has no DHCP options sets, Route 53 private hosted zone associations or Resolver
rules (DescribeDhcpOptions, route53:ListHostedZonesByVPC, route53resolver:ListResolverRules), so
these rules name the dependants they can see (interface endpoints, peerings) and describe the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from auditor.model import Finding, Peering, Vpc
from auditor.net import Topology
from auditor.rules.base import Found, endpoint_live, label, rule
from auditor.rules.commands import ec2
from auditor.states import PEERING_ACTIVE


def dns_dependants(
    topo: Topology, vpc: Vpc, peerings: dict[str, list[Peering]]
) -> dict[str, list[dict[str, str]]]:
    """What in this VPC relies on its DNS attributes: private-DNS interface endpoints and active
    peerings that resolve names across (AWS needs both attributes on in both VPCs for that)."""
    return {
        "private_dns_interface_endpoints": [
            {"endpoint": label(e.id, e.tags), "service": e.service_name}
            for e in topo.endpoints_by_vpc.get(vpc.id, [])
            if e.endpoint_type.lower() == "interface" and e.private_dns_enabled and endpoint_live(e)
        ],
        "peerings_with_dns_resolution": [
            {"peering": label(p.id, p.tags), "peer_vpc": other.vpc_id}
            for p in peerings.get(vpc.id, [])
            if p.status == PEERING_ACTIVE
            and any(s.allow_dns_resolution_from_remote_vpc for s in p.sides())
            for other in p.sides()
            if other.vpc_id != vpc.id
        ],
    }


def peerings_by_vpc(topo: Topology) -> dict[str, list[Peering]]:
    by_vpc: dict[str, list[Peering]] = defaultdict(list)
    for p in topo.snapshot.peerings:
        for vpc_id in {s.vpc_id for s in p.sides()}:
            by_vpc[vpc_id].append(p)
    return by_vpc


def uses(dependants: dict[str, list[dict[str, str]]]) -> str:
    """'2 interface endpoint(s) with private DNS and 1 peering(s) with DNS resolution', or ''."""
    endpoints = dependants["private_dns_interface_endpoints"]
    peerings = dependants["peerings_with_dns_resolution"]
    parts = []
    if endpoints:
        parts.append(
            f"{len(endpoints)} interface endpoint(s) with private DNS "
            f"({', '.join(e['service'] for e in endpoints[:3])}{'…' if len(endpoints) > 3 else ''})"
        )
    if peerings:
        parts.append(
            f"{len(peerings)} peering(s) with DNS resolution "
            f"({', '.join(p['peering'] for p in peerings[:3])}{'…' if len(peerings) > 3 else ''})"
        )
    return " and ".join(parts)


def attribute_command(vpc: Vpc, attribute: str) -> str:
    """Turns one attribute on (AWS takes one attribute a request)."""
    value = '{"Value":true}'
    return ec2(
        vpc.account_id, vpc.region, "modify-vpc-attribute", "--vpc-id", vpc.id, attribute, value
    )


@rule("vpc-dns-support-off")
def dns_support_off(topo: Topology, found: Found) -> Iterator[Finding]:
    peerings = peerings_by_vpc(topo)
    for vpc in topo.snapshot.vpcs:
        if vpc.dns_support is not False:  # None: the attribute could not be read
            continue
        dependants = dns_dependants(topo, vpc, peerings)
        used = uses(dependants)
        yield found(
            account_id=vpc.account_id,
            region=vpc.region,
            resource_id=vpc.id,
            vpc_id=vpc.id,
            message=(
                f"VPC {label(vpc.id, vpc.tags)} has enableDnsSupport off, so the Amazon-provided "
                f"DNS server (Route 53 Resolver at the VPC base address +2 and 169.254.169.253) "
                f"does not answer: instances cannot resolve public names, private hosted zones, "
                f"interface endpoint private DNS names, peer-VPC hostnames or EFS mount target "
                f"names." + (f" This VPC has {used}, which stop resolving." if used else "")
            ),
            remediation=f"Turn on enableDnsSupport in {vpc.id}.",
            commands=[attribute_command(vpc, "--enable-dns-support")],
            evidence={
                "enableDnsSupport": vpc.dns_support,
                "enableDnsHostnames": vpc.dns_hostnames,
                **dependants,
            },
        )


@rule("vpc-dns-hostnames-off")
def dns_hostnames_off(topo: Topology, found: Found) -> Iterator[Finding]:
    peerings = peerings_by_vpc(topo)
    for vpc in topo.snapshot.vpcs:
        if vpc.dns_hostnames is not False:
            continue
        dependants = dns_dependants(topo, vpc, peerings)
        used = uses(dependants)
        if not used:
            continue  # nothing in the VPC needs it: off is a valid choice
        fix = f"Turn on enableDnsHostnames in {vpc.id}."
        commands = [attribute_command(vpc, "--enable-dns-hostnames")]
        if vpc.dns_support is False:
            # AWS enables DNS hostnames only where DNS support is on: that goes first.
            fix = f"Turn on enableDnsSupport, then enableDnsHostnames, in {vpc.id}."
            commands.insert(0, attribute_command(vpc, "--enable-dns-support"))
        yield found(
            account_id=vpc.account_id,
            region=vpc.region,
            resource_id=vpc.id,
            vpc_id=vpc.id,
            message=(
                f"VPC {label(vpc.id, vpc.tags)} has enableDnsHostnames off but uses {used}. "
                f"Both need enableDnsHostnames (and enableDnsSupport) on: without it, service "
                f"names resolve to the services' public addresses instead of the endpoints, and "
                f"peer hostnames to public IPs, so traffic leaves through NAT or an internet "
                f"gateway, or fails where there is none."
            ),
            remediation=fix,
            commands=commands,
            evidence={
                "enableDnsSupport": vpc.dns_support,
                "enableDnsHostnames": vpc.dns_hostnames,
                **dependants,
            },
        )
