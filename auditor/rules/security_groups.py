"""Security groups: stale peer references, open admin ports, the default group, and rules
naming a peer VPC that no route reaches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from auditor.model import (
    Finding,
    GroupReference,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from auditor.net import Network, Topology, collapse, network, networks, overlaps
from auditor.paths import BOUNDARY, DELIVERED, DROPPED, LOOP, Path, paths
from auditor.reach import rule_text
from auditor.rules.base import Found, label, rule, vpc_label
from auditor.rules.network_acls import Named, Peers
from auditor.states import PEERING_ACTIVE

PROTOCOL_NAMES = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
# RDP also uses UDP 3389, but only as an optional transport after a TCP session is set up, so an
# open UDP 3389 alone does not expose the login: only TCP counts.
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}


def protocol_name(rule: SecurityGroupRule) -> str:
    return PROTOCOL_NAMES.get(rule.protocol, rule.protocol.lower())


def ports(rule: SecurityGroupRule) -> str:
    if protocol_name(rule) == "all" or rule.from_port in (None, -1):
        return "all"
    if rule.from_port == rule.to_port:
        return str(rule.from_port)
    return f"{rule.from_port}-{rule.to_port}"


def pair_arg(ref: GroupReference) -> str:
    owner = f",UserId={ref.user_id}" if ref.user_id else ""
    return f"UserIdGroupPairs=[{{GroupId={ref.group_id}{owner}}}]"


def peers(rule: SecurityGroupRule) -> Iterator[tuple[str, str]]:
    """Each source/destination of a rule: as evidence shows it, and as CLI shorthand."""
    for cidr in rule.cidrs:
        yield cidr, f"IpRanges=[{{CidrIp={cidr}}}]"
    for cidr in rule.ipv6_cidrs:
        yield cidr, f"Ipv6Ranges=[{{CidrIpv6={cidr}}}]"
    for plist in rule.prefix_list_ids:
        yield plist, f"PrefixListIds=[{{PrefixListId={plist}}}]"
    for ref in rule.groups:
        yield ref.group_id, pair_arg(ref)


def directions(sg: SecurityGroup) -> Iterator[tuple[str, SecurityGroupRule]]:
    for direction, rules in (("ingress", sg.ingress), ("egress", sg.egress)):
        for r in rules:
            yield direction, r


def revoke(sg: SecurityGroup, direction: str, rule: SecurityGroupRule, peer: str) -> str:
    """The CLI command that removes one peer from one rule of `sg`."""
    fields = [f"IpProtocol={rule.protocol}"]
    if rule.from_port is not None:
        fields.append(f"FromPort={rule.from_port}")
    if rule.to_port is not None:
        fields.append(f"ToPort={rule.to_port}")
    return (
        f"aws ec2 revoke-security-group-{direction} --group-id {sg.id} "
        f"--ip-permissions '{','.join([*fields, peer])}' --region {sg.region}"
    )


# --- sg-stale-peer-reference ---


def stale_reason(
    topo: Topology, sg: SecurityGroup, ref: GroupReference, group_ids: set[str]
) -> tuple[str, str] | None:
    """(peering status, why) when a reference is stale by what the snapshot shows, else None."""
    status = ""
    reasons = []
    if ref.peering_id:
        peering = topo.peerings.get(ref.peering_id)
        status = peering.status if peering else ref.peering_status or ""
        if not status and (sg.account_id, sg.region) in topo.audited:
            # The group's own account-region lists every peering of its VPC: this one is gone.
            status = "not found"
        if status == "not found":
            reasons.append(f"peering {ref.peering_id} no longer exists")
        elif status and status != PEERING_ACTIVE:
            reasons.append(f"peering {ref.peering_id} is {status}")
    owner = ref.user_id or sg.account_id
    # Groups can be referenced only within a region; a missing group whose owner-region was
    # not audited proves nothing.
    if ref.group_id not in group_ids and (owner, sg.region) in topo.audited:
        reasons.append(f"group {ref.group_id} no longer exists in account {owner}")
    return (status, "; ".join(reasons)) if reasons else None


def stale_row(
    direction: str, rule: SecurityGroupRule, ref: GroupReference, status: str, reason: str
) -> dict[str, str]:
    return {
        "direction": direction,
        "protocol": protocol_name(rule),
        "ports": ports(rule),
        "referenced_group": ref.group_id,
        "group_owner": ref.user_id or "",
        "peering": ref.peering_id or "",
        "peering_status": status,
        "reason": reason,
    }


def stale_references(
    topo: Topology,
) -> Iterator[tuple[SecurityGroup, list[tuple[str, SecurityGroupRule, GroupReference, str, str]]]]:
    """Groups with stale rules: DescribeStaleSecurityGroups' answer where we have it for the
    VPC, our own cross-reference of peerings and groups elsewhere."""
    checked: set[str] = set()
    for check in topo.snapshot.stale_group_checks:
        checked.add(check.id)
        for stale in check.stale_groups:
            rows = [
                (
                    direction,
                    r,
                    ref,
                    ref.peering_status or "",
                    "reported stale by DescribeStaleSecurityGroups",
                )
                for direction, r in directions(stale)
                for ref in r.groups
            ]
            if rows:
                yield stale, rows
    group_ids = {g.id for g in topo.snapshot.security_groups}
    for sg in topo.snapshot.security_groups:
        if sg.vpc_id in checked:
            continue
        found_rows = []
        for direction, r in directions(sg):
            for ref in r.groups:
                why = stale_reason(topo, sg, ref, group_ids)
                if why:
                    found_rows.append((direction, r, ref, *why))
        if found_rows:
            yield sg, found_rows


@rule("sg-stale-peer-reference")
def stale_peer_reference(topo: Topology, found: Found) -> Iterator[Finding]:
    groups = {g.id: g for g in topo.snapshot.security_groups}
    for stale, rows in stale_references(topo):
        sg = groups.get(stale.id, stale)  # the full group has the tags and region
        vpc_id = sg.vpc_id or stale.vpc_id
        reasons = sorted({reason for *_, reason in rows})
        yield found(
            account_id=sg.account_id,
            region=sg.region,
            resource_id=sg.id,
            vpc_id=vpc_id,
            message=(
                f"Security group {label(sg.id, sg.tags)} in VPC {vpc_label(topo, vpc_id)} has "
                f"{len(rows)} stale rule(s) ({'; '.join(reasons[:3])}"
                f"{'; …' if len(reasons) > 3 else ''}): they reference a group across a peering "
                f"that is no longer active, or a group that is gone, so they match nothing. The "
                f"traffic they were meant to allow is blocked, and the dead rules hide what "
                f"access the group is really meant to grant."
            ),
            remediation=(
                "Remove the stale rules (and allow the peer's CIDR or a live group instead if the "
                "traffic is still wanted): "
                + "; ".join(
                    revoke(sg, direction, r, pair_arg(ref)) for direction, r, ref, _, _ in rows
                )
            ),
            evidence={"stale_rules": [stale_row(*row) for row in rows]},
        )


# --- sg-open-admin-port ---


def exposed_admin_ports(rule: SecurityGroupRule) -> list[int]:
    """The admin ports an ingress rule opens: all of them for 'all traffic', else TCP ranges."""
    name = protocol_name(rule)
    if name == "all":
        return list(ADMIN_PORTS)
    if name != "tcp":
        return []
    low = 0 if rule.from_port is None else rule.from_port
    high = 65535 if rule.to_port is None else rule.to_port
    return [p for p in ADMIN_PORTS if low <= p <= high]


def world(cidrs: Iterable[str]) -> list[str]:
    return [c for c in cidrs if network(c).prefixlen == 0]


@rule("sg-open-admin-port")
def open_admin_port(topo: Topology, found: Found) -> Iterator[Finding]:
    for sg in topo.snapshot.security_groups:
        rows: list[dict[str, str]] = []
        commands: list[str] = []
        open_ports: set[int] = set()
        for r in sg.ingress:
            admin = exposed_admin_ports(r)
            if not admin:
                continue
            anywhere = world([*r.cidrs, *r.ipv6_cidrs])
            for source, arg in peers(r):
                if source not in anywhere:
                    continue
                open_ports.update(admin)
                names = ", ".join(f"{ADMIN_PORTS[p]} ({p})" for p in admin)
                rows.append(
                    {
                        "protocol": protocol_name(r),
                        "ports": ports(r),
                        "source": source,
                        "exposes": names,
                    }
                )
                commands.append(revoke(sg, "ingress", r, arg))
        if not rows:
            continue
        services = " and ".join(f"{ADMIN_PORTS[p]} (TCP {p})" for p in sorted(open_ports))
        sources = ", ".join(sorted({row["source"] for row in rows}))
        yield found(
            account_id=sg.account_id,
            region=sg.region,
            resource_id=sg.id,
            vpc_id=sg.vpc_id,
            message=(
                f"Security group {label(sg.id, sg.tags)} in VPC {vpc_label(topo, sg.vpc_id)} "
                f"allows {services} from anywhere ({sources}): every instance in the group with "
                f"a public address is open to password guessing and exploits from the whole "
                f"internet."
            ),
            remediation=(
                "; ".join(commands)
                + ". Then allow only your administrators' CIDRs, or use Systems Manager Session "
                "Manager or EC2 Instance Connect Endpoint, which need no open inbound port."
            ),
            evidence={"open_rules": rows},
        )


# --- sg-default-allows-traffic ---

# AWS's own rules in a default group: all traffic in from the group itself, out to anywhere.
DEFAULT_RULES = {("ingress", "self"), ("egress", "0.0.0.0/0"), ("egress", "::/0")}


@rule("sg-default-allows-traffic")
def default_allows_traffic(topo: Topology, found: Found) -> Iterator[Finding]:
    for sg in topo.snapshot.security_groups:
        if sg.name != "default":
            continue
        rows: list[dict[str, str]] = []
        commands: list[str] = []
        for direction, r in directions(sg):
            for source, arg in peers(r):
                key = "self" if source == sg.id else source
                if protocol_name(r) == "all" and (direction, key) in DEFAULT_RULES:
                    continue  # fewer rules than the defaults is fine, only additions count
                rows.append(
                    {
                        "direction": direction,
                        "protocol": protocol_name(r),
                        "ports": ports(r),
                        "peer": source,
                    }
                )
                commands.append(revoke(sg, direction, r, arg))
        if not rows:
            continue
        yield found(
            account_id=sg.account_id,
            region=sg.region,
            resource_id=sg.id,
            vpc_id=sg.vpc_id,
            message=(
                f"The default security group {label(sg.id, sg.tags)} of VPC "
                f"{vpc_label(topo, sg.vpc_id)} has {len(rows)} rule(s) beyond AWS's defaults. "
                f"Every instance or interface endpoint created without an explicit group gets "
                f"the default group, so these rules silently apply to it."
            ),
            remediation=(
                "Move the access into a dedicated security group attached to the resources that "
                "need it, then remove the extra rules: " + "; ".join(commands)
            ),
            evidence={"extra_rules": rows},
        )


# --- sg-peer-reference-unreachable ---

# Path ends that surely do not bring traffic into another VPC (a NAT gateway, an appliance or a
# VPN might: unknown).
NOWHERE = frozenset(
    {*DROPPED, LOOP, "internet-gateway", "egress-only-internet-gateway", "vpc-endpoint"}
)


def arrives(topo: Topology, path: Path, vpc_id: str) -> bool | None:
    """Whether a path ends in `vpc_id`; None when the snapshot cannot tell."""
    if path.end == DELIVERED:
        return path.end_id == vpc_id
    if path.end == BOUNDARY and path.end_id == vpc_id:
        return True  # carried into the VPC, whose tables the audit did not read
    if path.end == "vpc-peering-connection":
        pcx = topo.peerings.get(path.end_id)
        if pcx is None:
            return None
        sides = (pcx.requester.vpc_id, pcx.accepter.vpc_id)
        return pcx.status == PEERING_ACTIVE and vpc_id in sides
    return False if path.end in NOWHERE else None


def carried(
    topo: Topology, subnets: Iterable[Subnet], ranges: Iterable[Network], vpc_id: str
) -> tuple[bool | None, list[Path]]:
    """Whether some route from `subnets` takes part of `ranges` into `vpc_id` (None: unknown),
    with the paths that do not."""
    engine = paths(topo)
    ranges = list(ranges)
    missed: list[Path] = []
    unknown = False
    for subnet in subnets:
        table = topo.table_for_subnet(subnet)
        if table is None:
            unknown = True
            continue
        for net in ranges:
            for path in engine.follow(table, net, subnet.availability_zone):
                verdict = arrives(topo, path, vpc_id)
                if verdict:
                    return True, []
                unknown = unknown or verdict is None
                missed.append(path)
    return (None if unknown else False), missed


@rule("sg-peer-reference-unreachable")
def peer_reference_unreachable(topo: Topology, found: Found) -> Iterator[Finding]:
    peers = Peers.of(topo)
    by_group: dict[tuple[str, str], list[Named]] = defaultdict(list)
    for named in peers.named:
        by_group[(named.group.id, named.peer_vpc)].append(named)
    for (_, peer_vpc), names in sorted(by_group.items()):
        sg = names[0].group
        used = {e.subnet_id for e in peers.enis_by_group.get(sg.id, []) if e.subnet_id}
        subnets = [topo.subnets[s] for s in sorted(used) if s in topo.subnets]
        targets = peer_ranges(topo, peers, names)
        if not subnets or not targets:
            continue  # a group no interface uses, or a peer whose range is unknown
        out, missed = carried(topo, subnets, targets, peer_vpc)
        if out is None:
            continue
        way = f"from {sg.vpc_id} to {peer_vpc}"
        if out:
            clients = [
                s for s in topo.subnets_by_vpc.get(peer_vpc, []) if touches(topo, s, targets)
            ]
            if not clients:
                continue  # the peer's subnets were not read: the way back is unknown
            own = networks(s.cidr_block for s in subnets if s.cidr_block)
            back, missed = carried(topo, clients, own, sg.vpc_id)
            if back is not False:
                continue
            way = f"from {peer_vpc} back to {sg.vpc_id}"
        links = peers.links(sg.vpc_id, peer_vpc)
        rules = [f"{n.direction} {rule_text(n.rule)}" for n in names]
        yield found(
            account_id=sg.account_id,
            region=sg.region,
            resource_id=sg.id,
            vpc_id=sg.vpc_id,
            detail=peer_vpc,
            message=(
                f"Security group {label(sg.id, sg.tags)} in VPC {vpc_label(topo, sg.vpc_id)} "
                f"allows traffic with VPC {vpc_label(topo, peer_vpc)} (linked by "
                f"{', '.join(links)}; {'; '.join(rules[:3])}{'; …' if len(rules) > 3 else ''}), "
                f"but no route carries it {way}: the rule is dead configuration, or a route "
                f"its owner thinks exists is missing."
            ),
            remediation=(
                f"If the traffic is wanted, add routes for the peer's range through "
                f"{' or '.join(links)} to the route tables of the group's subnets, and back in "
                f"{peer_vpc}'s tables; if it is not, remove the rules from {sg.id}."
            ),
            evidence={
                "peer_vpc": peer_vpc,
                "links": links,
                "rules": rules,
                "no_route": way,
                "paths": [p.as_evidence() for p in missed[:10]],
            },
        )


def peer_ranges(topo: Topology, peers: Peers, names: list[Named]) -> list[Network]:
    """The peer's addresses the rules name: their ranges, or for groups the subnets of the
    interfaces in them (else the peer VPC's own range)."""
    ranges = [n for named in names for n in named.ranges]
    groups = frozenset().union(*(named.groups for named in names))
    if groups:
        peer = names[0].peer_vpc
        members = {
            e.subnet_id
            for e in peers.enis_by_group_any(groups)
            if e.vpc_id == peer and e.subnet_id in topo.subnets
        }
        vpc = topo.vpcs.get(peer)
        cidrs = [c for s in sorted(members) if (c := topo.subnets[s].cidr_block)]
        cidrs = cidrs or (vpc.cidr_blocks if vpc else [])
        ranges += networks(cidrs)
    return collapse(ranges)


def touches(topo: Topology, subnet: Subnet, ranges: list[Network]) -> bool:
    return any(overlaps(a, b) for a in topo.subnet_networks(subnet) for b in ranges)
