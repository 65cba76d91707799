"""Network ACLs that drop traffic the security groups allow between two VPCs: peering-nacl-blocks
and tgw-nacl-blocks, judged with reach's engine (auditor.reach).

Traffic counts only where a security group names another VPC linked to its own (an active
peering, or a transit gateway both are attached to): a rule's CIDR or prefix-list range inside
that VPC's range, or a group of that VPC. VPCs that never talk are never paired, and the work is
per such rule, not per pair of VPCs. A flow is a client interface in the named range (or in the
named group) whose own groups let the request out, and an interface of the server's group; its
routes must carry it both ways. Network ACLs are stateless: the request must pass the client
subnet's ACL outbound and the server's inbound, and the reply (to the client's ephemeral port,
asked on 32768-65535: reach.CLIENT_PORTS) the server's outbound and the client's inbound. A flow
some of whose ports pass but not all is left alone (ACLs narrowing what a group allows, or denying
a few ephemeral ports, is a design, not a fault); one none of whose requested ports pass, or none
of whose reply ports, is reported. All-traffic group rules are not judged. Where the snapshot holds
no ACL for a subnet (older snapshots, a refused read), nothing is said.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

from auditor.model import (
    Finding,
    NetworkAcl,
    NetworkInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from auditor.net import Network, Topology, network, networks, text
from auditor.reach import (
    ALLOW,
    CLIENT_PORTS,
    LAST_RULE_NUMBER,
    PROTOCOL_NAMES,
    PROTOCOL_NUMBERS,
    Decision,
    Endpoint,
    Hop,
    Index,
    Judge,
    Ports,
    acl_fix,
    allowed_ports,
    covered,
    entry_text,
    overlap,
    ports_text,
    rule_text,
)
from auditor.rules.base import Found, label, rule, vpc_label
from auditor.rules.commands import ec2
from auditor.states import ATTACHMENT_LIVE, PEERING_ACTIVE

SHOWN = 20  # evidence rows per finding


@dataclass(frozen=True)
class Named:
    """A security group rule naming another VPC linked to the group's: the rule's ranges
    inside that VPC, and that VPC's groups it names."""

    group: SecurityGroup
    direction: str  # ingress | egress
    rule: SecurityGroupRule
    peer_vpc: str
    ranges: tuple[Network, ...]
    groups: frozenset[str]


class Peers:
    """What the rules of this module (and sg-peer-reference-unreachable) look up, built once:
    VPCs by CIDR, the links between VPCs, interfaces by group and by VPC."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        snap = topo.snapshot
        self.index = Index.of(topo)
        self.by_cidr: dict[Network, set[str]] = defaultdict(set)
        for vpc in snap.vpcs:
            for cidr in (*vpc.cidr_blocks, *vpc.ipv6_cidr_blocks):
                self.by_cidr[network(cidr)].add(vpc.id)
        self.peered: dict[tuple[str, str], list[str]] = defaultdict(list)
        for pcx in snap.peerings:
            for side in (pcx.requester, pcx.accepter):
                for cidr in (*side.cidr_blocks, *side.ipv6_cidr_blocks):
                    self.by_cidr[network(cidr)].add(side.vpc_id)
            if pcx.status == PEERING_ACTIVE:
                one, other = pcx.requester.vpc_id, pcx.accepter.vpc_id
                self.peered[(one, other)].append(pcx.id)
                self.peered[(other, one)].append(pcx.id)
        self.lengths = sorted({(n.version, n.prefixlen) for n in self.by_cidr})
        self.hubs: dict[str, set[str]] = defaultdict(set)
        hub_peers: dict[str, set[str]] = defaultdict(set)
        for a in snap.transit_gateway_attachments:
            if a.state not in ATTACHMENT_LIVE:
                continue
            if a.resource_type == "vpc":
                self.hubs[a.resource_id].add(a.transit_gateway_id)
            elif a.resource_type == "peering" and a.peer_transit_gateway_id:
                hub_peers[a.transit_gateway_id].add(a.peer_transit_gateway_id)
                hub_peers[a.peer_transit_gateway_id].add(a.transit_gateway_id)
        self.hub_peers = hub_peers
        self.group_vpc = {g.id: g.vpc_id for g in snap.security_groups}
        self.enis_by_group: dict[str, list[NetworkInterface]] = defaultdict(list)
        self.enis_by_vpc: dict[str, list[NetworkInterface]] = defaultdict(list)
        for eni in snap.network_interfaces:
            self.enis_by_vpc[eni.vpc_id].append(eni)
            for group_id in eni.security_group_ids:
                self.enis_by_group[group_id].append(eni)
        self._containing: dict[Network, set[str]] = {}

    @staticmethod
    def of(topo: Topology) -> Peers:
        return topo.memo("peers", lambda: Peers(topo))

    def containing(self, net: Network) -> set[str]:
        """The VPCs whose range holds `net` (a lookup per prefix length in use, not a scan)."""
        found = self._containing.get(net)
        if found is None:
            found = set()
            for version, length in self.lengths:
                if version == net.version and length <= net.prefixlen:
                    found |= self.by_cidr.get(net.supernet(new_prefix=length), set())
            self._containing[net] = found
        return found

    def links(self, a: str, b: str) -> list[str]:
        """What connects VPC a to VPC b: active peerings, shared (or peered) transit gateways."""
        hubs = self.hubs.get(a, set())
        near = hubs.union(*(self.hub_peers.get(h, set()) for h in hubs)) if hubs else set()
        return [*self.peered.get((a, b), ()), *sorted(near & self.hubs.get(b, set()))]

    @cached_property
    def named(self) -> list[Named]:
        """Every security group rule naming a linked VPC, one entry per rule and VPC."""
        out: list[Named] = []
        for group in self.topo.snapshot.security_groups:
            for direction, rules in (("ingress", group.ingress), ("egress", group.egress)):
                for sg_rule in rules:
                    out += self.names(group, direction, sg_rule)
        return out

    def names(
        self, group: SecurityGroup, direction: str, sg_rule: SecurityGroupRule
    ) -> list[Named]:
        ranges: dict[str, list[Network]] = defaultdict(list)
        groups: dict[str, set[str]] = defaultdict(set)
        nets = networks([*sg_rule.cidrs, *sg_rule.ipv6_cidrs])
        for pl_id in sg_rule.prefix_list_ids:
            plist = self.topo.prefix_lists.get(pl_id)
            nets += networks(plist.cidrs) if plist else []
        for net in nets:
            for vpc_id in self.containing(net):
                ranges[vpc_id].append(net)
        for ref in sg_rule.groups:
            owner = self.group_vpc.get(ref.group_id) or ref.vpc_id
            if owner:
                groups[owner].add(ref.group_id)
        return [
            Named(
                group, direction, sg_rule, vpc_id, tuple(ranges[vpc_id]), frozenset(groups[vpc_id])
            )
            for vpc_id in sorted(ranges.keys() | groups.keys())
            if vpc_id != group.vpc_id and self.links(group.vpc_id, vpc_id)
        ]

    def enis_by_group_any(self, groups: Iterable[str]) -> list[NetworkInterface]:
        return [e for g in sorted(groups) for e in self.enis_by_group.get(g, [])]

    def members(self, named: Named, eni: NetworkInterface) -> bool:
        """Whether an interface of the peer VPC is one the rule names."""
        if named.groups & set(eni.security_group_ids):
            return True
        return bool(named.ranges) and any(
            covered([network(ip)], named.ranges) for ip in eni.private_ips
        )


# --- flows and what drops them ---


def asked(sg_rule: SecurityGroupRule) -> tuple[str, Ports] | None:
    """The protocol name and ports a TCP or UDP rule allows, as reach asks them. An all-traffic
    rule is not judged: a broad group rule with a network ACL as the narrower control (DNS only,
    say) is a design, not a contradiction; ICMP and other protocols are not judged either."""
    protocol = PROTOCOL_NUMBERS.get(sg_rule.protocol, sg_rule.protocol)
    if protocol not in ("6", "17"):
        return None
    low = 0 if sg_rule.from_port in (None, -1) else sg_rule.from_port
    high = 65535 if sg_rule.to_port in (None, -1) else sg_rule.to_port
    return PROTOCOL_NAMES[protocol], (low, high)


@dataclass(frozen=True)
class Drop:
    """One network ACL hop that drops a flow: which ACL, which way, what, and what decided."""

    kind: str  # peering | tgw
    link: str  # the peering or transit gateway the flow crosses
    acl: NetworkAcl
    subnet: Subnet
    egress: bool
    replies: bool
    protocol: str  # tcp | udp
    ports: tuple[Ports, ...]  # the ports dropped
    asked: Ports  # the ports the fix allows
    peer: str  # the range on the other end, as the fix names it
    decided: tuple[Decision, ...]  # the deny rules or the final `*` that drop it
    named: Named
    peer_vpc: str

    def row(self) -> dict[str, str]:
        return {
            "network_acl": self.acl.id,
            "subnet": self.subnet.id,
            "direction": "outbound" if self.egress else "inbound",
            "traffic": "replies" if self.replies else "requests",
            "protocol": self.protocol,
            "ports": ", ".join(map(ports_text, self.ports)),
            "peer": self.peer,
            "decided_by": "; ".join(
                entry_text(e) if e else "rule * (deny all: no rule allows it)"
                for e, _ in self.decided
            ),
            "security_group": self.named.group.id,
            "security_group_rule": f"{self.named.direction} {rule_text(self.named.rule)}",
            "peer_vpc": self.peer_vpc,
        }

    @property
    def final(self) -> bool:
        """Dropped by the final `*` alone: an allow rule numbered after every other is the
        whole fix, and changes nothing else."""
        return all(e is None for e, _ in self.decided)


def denied(decided: Iterable[Decision]) -> tuple[Decision, ...]:
    return tuple((e, hit) for e, hit in decided if hit and (e is None or e.rule_action != "allow"))


def common(a: list[Ports], b: list[Ports]) -> list[Ports]:
    return [p for x in a for y in b if (p := overlap(x, y))]


def link_of(topo: Topology, index: Index, hops: Iterable[Hop]) -> tuple[str, str] | None:
    """The peering or transit gateway the route hops cross (the first of them)."""
    for hop in hops:
        if hop.component == "vpc-peering-connection":
            return "peering", hop.id
        if hop.component == "transit-gateway-route-table":
            table = index.engine.hub_tables.get(hop.id)
            return ("tgw", table.transit_gateway_id) if table else None
    return None


class Flows:
    """Every flow the security groups name between linked VPCs, judged once (memoised)."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.peers = Peers.of(topo)
        self.index = self.peers.index
        self.seen: set[tuple[str, str, str, Ports]] = set()
        self.drops: list[Drop] = []
        for named in self.peers.named:
            if named.direction == "ingress" and (question := asked(named.rule)):
                self.judge_rule(named, *question)

    @staticmethod
    def of(topo: Topology) -> Flows:
        return topo.memo("nacl-flows", lambda: Flows(topo))

    def judge_rule(self, named: Named, protocol: str, ports: Ports) -> None:
        servers = first_per_subnet(self.peers.enis_by_group.get(named.group.id, []))
        if not servers:
            return
        judge = Judge(self.index, protocol, None, ports)
        clients = [
            eni
            for eni in self.peers.enis_by_vpc.get(named.peer_vpc, [])
            if eni.interface_type == "interface" and self.peers.members(named, eni)
        ]
        for server in servers:
            dst = self.index.interface(server.id, "network-interface", server)
            for client in clients:
                subnet = client.subnet_id or ""
                key = (subnet, dst.subnet.id if dst.subnet else "", protocol, ports)
                if key in self.seen:
                    continue
                src = self.index.interface(client.id, "network-interface", client)
                if judge.groups(client, True, dst).verdict != ALLOW:
                    continue  # its own groups keep this client from asking
                self.seen.add(key)
                self.judge_flow(judge, named, src, dst, protocol, ports)

    def judge_flow(
        self, judge: Judge, named: Named, src: Endpoint, dst: Endpoint, protocol: str, ports: Ports
    ) -> None:
        if src.subnet is None or dst.subnet is None:
            return
        acl_src, acl_dst = self.index.acl(src.subnet), self.index.acl(dst.subnet)
        if acl_src is None or acl_dst is None:
            return  # unknown is not a finding
        forward = judge.route(src, dst)
        if any(h.verdict != ALLOW for h in forward) or any(
            h.verdict != ALLOW for h in judge.route(dst, src)
        ):
            return  # no round trip by the routes: not this rule's to say
        link = link_of(self.topo, self.index, forward)
        if link is None:
            return
        number = judge.protocol
        client_range = next(
            (text(n) for n in named.ranges if covered(src.nets, [n])),
            src.subnet.cidr_block or src.where(),
        )
        server_range = dst.subnet.cidr_block or dst.where()
        hops = (
            (acl_src, src.subnet, True, dst.nets, server_range),
            (acl_dst, dst.subnet, False, src.nets, client_range),
        )
        back = (
            (acl_dst, dst.subnet, True, src.nets, client_range),
            (acl_src, src.subnet, False, dst.nets, server_range),
        )
        # Requests pass when some port the group allows passes both ACLs; replies when some
        # port of the common clients' ephemeral range does (reach.CLIENT_PORTS).
        if self.passes(named, link, hops, number, protocol, ports, replies=False):
            self.passes(named, link, back, number, protocol, CLIENT_PORTS, replies=True)

    def passes(
        self,
        named: Named,
        link: tuple[str, str],
        hops: tuple[tuple[NetworkAcl, Subnet, bool, tuple[Network, ...], str], ...],
        number: str,
        protocol: str,
        ports: Ports,
        replies: bool,
    ) -> bool:
        """Whether some of `ports` passes both ACL hops; if none does, the hops that drop all
        of them (or both) are recorded."""
        decided = [
            self.index.decide(acl, out, nets, number, ports) for acl, _, out, nets, _ in hops
        ]
        if common(allowed_ports(decided[0]), allowed_ports(decided[1])):
            return True
        for i in [i for i in (0, 1) if not allowed_ports(decided[i])] or [0, 1]:
            acl, subnet, out, _, peer = hops[i]
            self.drop(link, named, acl, subnet, out, replies, protocol, ports, peer, decided[i])
        return False

    def drop(
        self,
        link: tuple[str, str],
        named: Named,
        acl: NetworkAcl,
        subnet: Subnet,
        egress: bool,
        replies: bool,
        protocol: str,
        ports: Ports,
        peer: str,
        decided: tuple[Decision, ...],
    ) -> None:
        dropping = denied(decided)
        if not dropping:
            return
        dropped = tuple(p for _, hit in dropping for p in hit)
        other = named.peer_vpc if acl.vpc_id == named.group.vpc_id else named.group.vpc_id
        self.drops.append(
            Drop(
                *link,
                acl,
                subnet,
                egress,
                replies,
                protocol,
                dropped,
                ports,
                peer,
                dropping,
                named,
                other,
            )
        )


def first_per_subnet(enis: Iterable[NetworkInterface]) -> list[NetworkInterface]:
    """One interface per subnet: network ACLs apply to subnets."""
    return list({e.subnet_id: e for e in reversed(list(enis)) if e.subnet_id}.values())


# --- the findings ---


def acl_commands(acl: NetworkAcl, drops: list[Drop]) -> list[str]:
    """An allow rule per dropped range, numbered after every rule of its direction, where only
    the final `*` drops it (then nothing else changes); none when a deny rule decides."""
    if not all(d.final for d in drops):
        return []
    numbers = {True: 0, False: 0}
    for entry in acl.entries:
        if entry.rule_number <= LAST_RULE_NUMBER:  # not AWS's listing of the final `*`
            numbers[entry.egress] = max(numbers[entry.egress], entry.rule_number)
    wanted = dict.fromkeys((d.egress, d.protocol, d.asked, d.peer) for d in drops)
    commands = []
    for egress, protocol, ports, peer in wanted:
        numbers[egress] = (numbers[egress] // 100 + 1) * 100
        if numbers[egress] > LAST_RULE_NUMBER:
            return []
        cidr = "--ipv6-cidr-block" if ":" in peer else "--cidr-block"
        commands.append(
            ec2(
                acl.account_id,
                acl.region,
                "create-network-acl-entry",
                "--network-acl-id",
                acl.id,
                "--egress" if egress else "--ingress",
                "--rule-number",
                str(numbers[egress]),
                "--protocol",
                PROTOCOL_NUMBERS[protocol],  # as AWS stores it (it takes "tcp" too)
                "--port-range",
                f"From={ports[0]},To={ports[1]}",
                cidr,
                peer,
                "--rule-action",
                "allow",
            )
        )
    return commands


def fix_text(drop: Drop) -> str:
    what = f"{drop.protocol} {ports_text(drop.asked)} {'to' if drop.egress else 'from'} {drop.peer}"
    decider = next((e for e, _ in drop.decided if e is not None), None)
    return acl_fix(drop.acl.id, drop.egress, what, decider)


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def acl_findings(topo: Topology, found: Found, kind: str) -> Iterator[Finding]:
    by_acl: dict[tuple[str, str], list[Drop]] = defaultdict(list)
    for drop in Flows.of(topo).drops:
        if drop.kind == kind:
            by_acl[(drop.acl.id, drop.link)].append(drop)
    for (_, link), drops in sorted(by_acl.items()):
        acl = drops[0].acl
        rows = list({tuple(r.items()): r for r in (d.row() for d in drops)}.values())
        first = drops[0]
        group = first.named.group
        via = f"peering {link}" if kind == "peering" else f"transit gateway {link}"
        peers = sorted({d.peer_vpc for d in drops})
        what = (
            f"{first.row()['direction']} {first.protocol} {', '.join(map(ports_text, first.ports))} "
            f"{'to' if first.egress else 'from'} {first.peer} ({first.subnet.id})"
        )
        replies = (
            " Replies go to the client's ephemeral port, which its OS picks from 32768-60999"
            " (Linux) or 49152-65535 (Windows): none of those passes here."
            if any(d.replies for d in drops)
            else ""
        )
        yield found(
            account_id=acl.account_id,
            region=acl.region,
            resource_id=acl.id,
            vpc_id=acl.vpc_id,
            detail=link,
            message=(
                f"Network ACL {label(acl.id, acl.tags)} in VPC {vpc_label(topo, acl.vpc_id)} drops "
                f"the {'replies' if first.replies else 'requests'} of connections from "
                f"{vpc_label(topo, first.named.peer_vpc)} to {vpc_label(topo, group.vpc_id)} that "
                f"security group {label(group.id, group.tags)} admits across {via}: {what} falls "
                f"to {first.row()['decided_by']}"
                + (f" ({len(rows) - 1} more in the evidence)" if len(rows) > 1 else "")
                + ". Network ACLs are stateless: the routes and security groups let these "
                "connections through, yet they time out."
            ),
            remediation=sentence("; ".join(dict.fromkeys(fix_text(d) for d in drops))) + replies,
            evidence={
                "link": link,
                "peer_vpcs": peers,
                "dropped": rows[:SHOWN],
                "dropped_total": len(rows),
            },
            commands=acl_commands(acl, drops),
        )


@rule("peering-nacl-blocks")
def peering_nacl_blocks(topo: Topology, found: Found) -> Iterator[Finding]:
    return acl_findings(topo, found, "peering")


@rule("tgw-nacl-blocks")
def tgw_nacl_blocks(topo: Topology, found: Found) -> Iterator[Finding]:
    return acl_findings(topo, found, "tgw")
