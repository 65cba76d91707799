"""`reach`: can A talk to B, and if not, which component blocks it; pure, over a Topology.

Follows AWS Reachability Analyzer's documented model: it reads configuration, sends no packet,
and names the blocking component. Forward: the source's security groups (egress), its subnet's
network ACL (outbound), the route tables through peerings, transit gateways, NAT and internet
gateways and gateway endpoints (the path engine, auditor.paths), the destination subnet's
network ACL (inbound) and its security groups (ingress). Return: security groups are stateful
(a reply to allowed traffic passes), network ACLs are stateless (the reply goes to the client's
ephemeral port: some port of 32768-65535, see CLIENT_PORTS, must be allowed out of the
destination's subnet and into the source's), and the reply needs a route back (the path engine
again, the other way).

Network ACL rules are evaluated in rule-number order, the first match deciding, and what no
rule matches is denied (the final `*` rule). Security group rules only allow, any matching rule
of any of the interface's groups allowing. A range (a subnet, the internet) stands for every
address in it: a rule counts for it only if it covers the whole range. What the snapshot cannot
tell (a component outside the audit, data an older snapshot lacks, a group or prefix list not
read) is "unknown", never a guess.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.model import (
    NetworkAcl,
    NetworkAclEntry,
    NetworkInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from auditor.net import Network, Topology, inside, network, networks
from auditor.paths import (
    BLACKHOLE,
    BOUNDARY,
    DELIVERED,
    DROPPED,
    LOOP,
    UNDETERMINED,
    Path,
    Step,
    paths,
)
from auditor.states import PEERING_ACTIVE

REACHABLE, NOT_REACHABLE, UNKNOWN = "reachable", "not reachable", "unknown"
ALLOW, BLOCK = "allow", "block"  # and UNKNOWN
PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1", "all": "-1"}
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "-1": "all"}
PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58"}  # security groups' names
TCP_UDP = ("tcp", "udp")
# The replies go to the client's ephemeral port, which its OS picks (AWS's "Ephemeral ports"
# page: Linux 32768-60999, Windows 49152-65535; NAT gateways and ELB 1024-65535). Replies are
# judged on the common clients' range, and pass when some port of it passes: an ACL that denies
# a few ports inside it (as that page suggests) or allows only part of it is not a block.
CLIENT_PORTS = (32768, 65535)
LAST_RULE_NUMBER = 32766  # AWS numbers rules 1-32766; it lists its final `*` rules above that
ECHO_REQUEST, ECHO_REPLY = 8, 0  # ICMP: --protocol icmp asks about ping
SERVICES = ("s3", "dynamodb")
WORDS = ("internet", *SERVICES)
INTERNET = network("0.0.0.0/0")
NOT_MODELLED = (
    "operating system firewalls and whether anything listens on the port",
    "load balancers' listeners and targets, and interface endpoints' services",
    "endpoint, bucket and resource policies",
    "network ACLs of the subnets a NAT gateway or transit gateway attachment sits in",
    "Network Firewall or other appliances' own rules (a Gateway Load Balancer endpoint is "
    "followed as a route hop)",
    "VPN and Direct Connect beyond their gateways",
)
Ports = tuple[int, int]
# A network ACL rule (None: the final `*`, which denies) and the asked ports it decides.
Decision = tuple[NetworkAclEntry | None, tuple[Ports, ...]]
At = tuple[str, str, str, str]  # a hop's component, id, account and region


class ReachError(ValueError):
    """An endpoint that is not in the snapshot, or a question that cannot be asked."""


@dataclass(frozen=True)
class Endpoint:
    """One end of the question: what the user named, resolved against the snapshot."""

    text: str
    kind: str  # instance | network-interface | address | subnet | internet | s3 | dynamodb
    nets: tuple[Network, ...]
    eni: NetworkInterface | None = None
    subnet: Subnet | None = None
    note: str = ""

    @property
    def vpc_id(self) -> str | None:
        return self.subnet.vpc_id if self.subnet else None

    @property
    def outside(self) -> bool:
        """The internet, a service or an address in no subnet of the snapshot."""
        return self.subnet is None

    def where(self) -> str:
        return ", ".join(
            str(n) if n.num_addresses > 1 else str(n.network_address) for n in self.nets
        )


@dataclass(frozen=True)
class Hop:
    """One component on the way: its verdict, what was asked of it, the rule or route that
    decided, and for a block the fix."""

    component: str  # security-group, network-acl, route-table, vpc-peering-connection, ...
    id: str
    account_id: str
    region: str
    verdict: str  # allow | block | unknown
    check: str  # what was asked, e.g. "egress tcp 5432 to 10.2.1.10"
    matched: str  # the rule or route that decided ("" when none did)
    fix: str = ""


@dataclass(frozen=True)
class Answer:
    """The verdict with the hops both ways; `stop` is where it stops (the first block, or for
    an unknown answer the first unknown hop). The return path is judged only when nothing
    blocks the forward one."""

    verdict: str
    source: str
    destination: str
    protocol: str
    port: int | None
    forward: tuple[Hop, ...]
    back: tuple[Hop, ...]
    stop: Hop | None
    notes: tuple[str, ...] = ()
    not_modelled: tuple[str, ...] = NOT_MODELLED


def reach(
    topo: Topology, source: str, destination: str, port: int | None = None, protocol: str = "tcp"
) -> Answer:
    """Can `source` reach `destination` on `protocol`/`port`? Raises ReachError for an end the
    snapshot does not hold or a question that cannot be asked."""
    if protocol not in PROTOCOLS:
        raise ReachError(f"protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    if protocol in ("tcp", "udp") and port is None:
        raise ReachError(f"{protocol} needs a destination port (--port N)")
    index = Index.of(topo)
    if source.lower() in SERVICES:
        raise ReachError(f"{source}: an AWS service can only be a destination")
    src = index.resolve(source, None)
    dst = index.resolve(destination, src.subnet.region if src.subnet else None)
    if src.kind in SERVICES or (src.outside and src.kind != "internet"):
        raise ReachError(f"{source}: a source must be in a subnet of the snapshot, or 'internet'")
    if src.outside and dst.outside:
        raise ReachError("one end must be in a subnet of the snapshot")
    if src.eni is not None and dst.eni is not None and src.eni.id == dst.eni.id:
        raise ReachError("the source and the destination are the same network interface")
    judge = Judge(index, protocol, port)
    forward = tuple(judge.forward(src, dst))
    back = () if any(h.verdict == BLOCK for h in forward) else tuple(judge.back(src, dst))
    hops = (*forward, *back)
    stop = next((h for h in hops if h.verdict == BLOCK), None) or next(
        (h for h in hops if h.verdict == UNKNOWN), None
    )
    verdict = REACHABLE if stop is None else NOT_REACHABLE if stop.verdict == BLOCK else UNKNOWN
    notes = tuple(n for n in (src.note, dst.note) if n)
    return Answer(verdict, source, destination, protocol, port, forward, back, stop, notes)


class Index:
    """What reach looks up, indexed once per snapshot (memoised on the Topology)."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        snap = topo.snapshot
        self.engine = paths(topo)
        self.groups: dict[str, SecurityGroup] = {g.id: g for g in snap.security_groups}
        self.by_ip: dict[str, NetworkInterface] = {}
        for eni in snap.network_interfaces:
            for ip in (*eni.private_ips, *eni.ipv6_addresses):
                self.by_ip.setdefault(ip, eni)
        self.acl_of_subnet: dict[str, NetworkAcl] = {}
        self.default_acl: dict[str, NetworkAcl] = {}
        for acl in snap.network_acls:
            if acl.is_default:
                self.default_acl[acl.vpc_id] = acl
            for subnet_id in acl.subnet_ids:
                self.acl_of_subnet[subnet_id] = acl
        self.entries: dict[str, list[NetworkAclEntry]] = {}
        self.decisions: dict[tuple[object, ...], tuple[Decision, ...]] = {}

    @staticmethod
    def of(topo: Topology) -> Index:
        return topo.memo("reach-index", lambda: Index(topo))

    def acl(self, subnet: Subnet) -> NetworkAcl | None:
        return self.acl_of_subnet.get(subnet.id) or self.default_acl.get(subnet.vpc_id)

    def decide(
        self,
        acl: NetworkAcl,
        egress: bool,
        nets: tuple[Network, ...],
        protocol: str,
        ports: Ports | None,
        icmp: int = ECHO_REQUEST,
    ) -> tuple[Decision, ...]:
        """acl_decisions, cached per ACL, direction, peer range and question: the rules ask
        the same few ACLs about the same ranges many times."""
        key = (acl.id, egress, nets, protocol, ports, icmp)
        decided = self.decisions.get(key)
        if decided is None:
            entries = self.entries.get(acl.id)
            if entries is None:
                entries = self.entries[acl.id] = sorted(acl.entries, key=lambda e: e.rule_number)
            decided = tuple(acl_decisions(entries, egress, nets, protocol, ports, icmp))
            self.decisions[key] = decided
        return decided

    def resolve(self, text: str, region: str | None) -> Endpoint:
        word = text.lower()
        if word == "internet":
            return Endpoint(text, "internet", (INTERNET,))
        if word in SERVICES:
            plist = self.topo.service_prefix_list(region or "", word)
            if plist is None or not plist.cidrs:
                raise ReachError(f"{text}: the snapshot has no {word} prefix list for {region}")
            return Endpoint(text, word, tuple(network(c) for c in plist.cidrs))
        if text.startswith("i-"):
            enis = self.topo.instance_interfaces.get(text)
            if not enis:
                raise ReachError(f"{text}: no network interface of this instance in the snapshot")
            return self.interface(text, "instance", min(enis, key=lambda e: e.device_index))
        if text.startswith("eni-"):
            eni = self.topo.network_interfaces.get(text)
            if eni is None:
                raise ReachError(f"{text}: no such network interface in the snapshot")
            return self.interface(text, "network-interface", eni)
        if text.startswith("subnet-"):
            subnet = self.topo.subnets.get(text)
            if subnet is None:
                raise ReachError(f"{text}: no such subnet in the snapshot")
            return Endpoint(text, "subnet", tuple(self.topo.subnet_networks(subnet)), subnet=subnet)
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ReachError(
                f"{text!r} is not an instance, network interface or subnet id, an IP address, "
                f"or one of {', '.join(WORDS)}"
            ) from None
        if (eni := self.by_ip.get(str(address))) is not None:
            return self.interface(text, "network-interface", eni, address)
        net = network(str(address))
        subnet = next(
            (s for s in self.topo.snapshot.subnets if covered([net], self.topo.subnet_networks(s))),
            None,
        )
        note = f"no network interface in the snapshot holds {address}" if subnet else ""
        return Endpoint(text, "address", (net,), subnet=subnet, note=note)

    def interface(
        self,
        text: str,
        kind: str,
        eni: NetworkInterface,
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None,
    ) -> Endpoint:
        subnet = self.topo.subnets.get(eni.subnet_id or "")
        ip = str(address) if address else next(iter(eni.private_ips or eni.ipv6_addresses), None)
        if ip is not None:
            return Endpoint(text, kind, (network(ip),), eni, subnet)
        if subnet is None:
            raise ReachError(f"{text}: neither its addresses nor its subnet are in the snapshot")
        note = (
            f"the snapshot holds no address of {eni.id} (written before snapshot version 3): "
            f"it stands for its subnet {subnet.id}"
        )
        return Endpoint(text, kind, tuple(self.topo.subnet_networks(subnet)), eni, subnet, note)


class Judge:
    """The hops of one question (protocol and port, or a port range for the rules that ask
    about a security group rule's ports), forward and back."""

    def __init__(
        self, index: Index, protocol: str, port: int | None, ports: Ports | None = None
    ) -> None:
        self.index = index
        self.topo = index.topo
        self.protocol = PROTOCOLS[protocol]
        if port is not None:
            ports = (port, port)
        self.ports: Ports | None = ports if protocol in TCP_UDP else None

    # --- the two directions ---

    def forward(self, src: Endpoint, dst: Endpoint) -> list[Hop]:
        hops: list[Hop] = []
        crossing = src.subnet is None or dst.subnet is None or src.subnet.id != dst.subnet.id
        if src.eni is not None:
            hops.append(self.groups(src.eni, True, dst))
        if src.subnet is not None and crossing:
            hops.append(self.acl(src.subnet, True, dst, self.ports, ECHO_REQUEST))
        hops += self.from_internet(dst) if src.kind == "internet" else self.route(src, dst)
        if dst.subnet is not None and crossing:
            hops.append(self.acl(dst.subnet, False, src, self.ports, ECHO_REQUEST))
        if dst.eni is not None:
            hops.append(self.groups(dst.eni, False, src))
        return hops

    def back(self, src: Endpoint, dst: Endpoint) -> list[Hop]:
        """The reply, to the client's ephemeral ports: out of the destination's subnet, the
        route back, into the source's subnet. Security groups let replies pass (stateful)."""
        hops: list[Hop] = []
        crossing = src.subnet is None or dst.subnet is None or src.subnet.id != dst.subnet.id
        replies = CLIENT_PORTS if self.ports else None
        if dst.eni is not None:
            hops.append(stateful(dst.eni))
        if dst.subnet is not None and crossing:
            hops.append(self.acl(dst.subnet, True, src, replies, ECHO_REPLY))
        if dst.outside and public(dst):
            how = "replies return through the gateway or endpoint that carried the request"
            hops.append(Hop("route", "-", "", "", ALLOW, f"route to {src.where()}", how))
        elif dst.outside:
            why = f"{dst.where()} is in no subnet of the snapshot: its route back is unknown"
            hops.append(Hop("route", "-", "", "", UNKNOWN, f"route to {src.where()}", why))
        else:
            hops += self.route(dst, src)
        if src.subnet is not None and crossing:
            hops.append(self.acl(src.subnet, False, dst, replies, ECHO_REPLY))
        if src.eni is not None:
            hops.append(stateful(src.eni))
        return hops

    def what(self, ports: Ports | None, icmp: int = ECHO_REQUEST) -> str:
        if ports:
            return f"{PROTOCOL_NAMES[self.protocol]} {ports_text(ports)}"
        if self.protocol == "1":
            return "icmp echo request" if icmp == ECHO_REQUEST else "icmp echo reply"
        return "all traffic"

    # --- security groups: allow rules only, any rule of any group allowing ---

    def groups(self, eni: NetworkInterface, egress: bool, peer: Endpoint) -> Hop:
        way, to = ("egress", "to") if egress else ("ingress", "from")
        check = f"{way} {self.what(self.ports)} {to} {peer.where()} ({eni.id})"
        ids = ", ".join(eni.security_group_ids)
        at = here("security-group", ids or "?", eni)
        if not eni.security_group_ids:
            return Hop(
                *at,
                UNKNOWN,
                check,
                f"the snapshot holds no security groups of {eni.id} (written before snapshot version 3)",
            )
        doubt = ""
        for group_id in eni.security_group_ids:
            group = self.index.groups.get(group_id)
            if group is None:
                doubt = doubt or f"{group_id} is not in the snapshot (its owner was not audited)"
                continue
            for rule in group.egress if egress else group.ingress:
                if not self.protocol_matches(rule):
                    continue
                matched, unsure = self.peer_matches(rule, peer)
                if matched:
                    return Hop(
                        *here("security-group", group.id, group),
                        ALLOW,
                        check,
                        f"{group.id} {way} {rule_text(rule)}",
                    )
                doubt = doubt or (f"{group.id} {way} {rule_text(rule)}: {unsure}" if unsure else "")
        if doubt:
            return Hop(*at, UNKNOWN, check, doubt)
        wanted = f"{self.what(self.ports)} {to} {peer.where()}"
        if peer.eni is not None and peer.eni.security_group_ids and peer.vpc_id == eni.vpc_id:
            wanted += f" (or from its group {peer.eni.security_group_ids[0]})" if not egress else ""
        fix = f"add an {way} rule to {eni.security_group_ids[0]} allowing {wanted}"
        return Hop(*at, BLOCK, check, f"no {way} rule of {ids} allows it", fix)

    def protocol_matches(self, rule: SecurityGroupRule) -> bool:
        protocol = PROTOCOL_NUMBERS.get(rule.protocol, rule.protocol)
        if protocol == "-1":
            return True
        if protocol != self.protocol:
            return False
        if self.protocol == "1":  # from_port is the ICMP type (-1: all)
            return rule.from_port in (None, -1, ECHO_REQUEST)
        low, high = rule.from_port, rule.to_port
        return self.ports is None or (
            (low is None or low <= self.ports[0]) and (high is None or self.ports[1] <= high)
        )

    def peer_matches(self, rule: SecurityGroupRule, peer: Endpoint) -> tuple[bool, str]:
        """Whether the rule's CIDRs, prefix lists or groups cover the peer; else why that
        cannot be told ("" when it surely does not)."""
        nets = networks([*rule.cidrs, *rule.ipv6_cidrs])
        unsure = ""
        for pl_id in rule.prefix_list_ids:
            plist = self.topo.prefix_lists.get(pl_id)
            if plist is None:
                unsure = f"prefix list {pl_id} is not in the snapshot"
            else:
                nets += networks(plist.cidrs)
        if nets and covered(peer.nets, nets):
            return True, ""
        for ref in rule.groups:
            if peer.eni is None:
                continue  # a subnet, an address or the internet has no security group
            if ref.group_id in peer.eni.security_group_ids:
                return True, ""
            if not peer.eni.security_group_ids:
                unsure = unsure or f"the groups of {peer.eni.id} are not in the snapshot"
        return False, unsure

    # --- network ACLs: rules in number order, the first match deciding, `*` denying the rest ---

    def acl(
        self, subnet: Subnet, egress: bool, peer: Endpoint, ports: Ports | None, icmp: int
    ) -> Hop:
        way, to = ("outbound", "to") if egress else ("inbound", "from")
        wanted = f"{self.what(ports, icmp)} {to} {peer.where()}"
        check = f"{way} {wanted} ({subnet.id})"
        acl = self.index.acl(subnet)
        if acl is None:
            why = (
                "network ACLs not in this snapshot (written before snapshot version 3, or not read)"
            )
            return Hop(*here("network-acl", "?", subnet), UNKNOWN, check, why)
        at = here("network-acl", acl.id, acl)
        replies = " (the client's ephemeral ports)" if ports == CLIENT_PORTS else ""
        decided = self.index.decide(acl, egress, peer.nets, self.protocol, ports, icmp)
        passing = allowed_ports(decided)
        dropped = [
            p
            for entry, hit in decided
            if entry is None or entry.rule_action != "allow"
            for p in hit
        ]
        if replies and passing and dropped:  # the client's OS picks its port: some passing will do
            return Hop(
                *at,
                ALLOW,
                check,
                f"ports {', '.join(map(ports_text, passing))} pass, "
                f"{', '.join(map(ports_text, dropped))} do not: the client's port must be one that passes",
            )
        used: list[str] = []
        for entry, hit in decided:
            if entry is not None and entry.rule_action == "allow":
                used.append(entry_text(entry))
            elif entry is not None:
                denied = f" (ports {', '.join(map(ports_text, hit))})" if hit else ""
                fix = acl_fix(acl.id, egress, wanted + replies, entry)
                return Hop(*at, BLOCK, check, entry_text(entry) + denied, fix)
            else:
                left = f" (ports {', '.join(map(ports_text, hit))})" if used else ""
                fix = acl_fix(acl.id, egress, wanted + replies, None)
                return Hop(*at, BLOCK, check, f"rule * deny all: no rule allows it{left}", fix)
        return Hop(*at, ALLOW, check, "; ".join(used))

    # --- routes, through the path engine ---

    def route(self, src: Endpoint, dst: Endpoint) -> list[Hop]:
        """The route hops from src's subnet to dst: the worst of dst's pieces (for the
        internet, the piece that most of the address space takes: the default route)."""
        subnet = src.subnet
        assert subnet is not None
        table = self.topo.table_for_subnet(subnet)
        if table is None:
            why = f"no route table of {subnet.vpc_id} is in the snapshot"
            return [Hop(*here("route-table", "?", subnet), UNKNOWN, f"route to {dst.where()}", why)]
        engine = self.index.engine
        found = [p for net in dst.nets for p in engine.follow(table, net, subnet.availability_zone)]
        if dst.kind == "internet":
            found = [max(found, key=lambda p: p.destination.num_addresses)]
        return worst([self.judge(p, src, dst) for p in found])

    def judge(self, path: Path, src: Endpoint, dst: Endpoint, nat: bool = False) -> list[Hop]:
        """A path's route hops, then the component it ends at, judged."""
        hops = [step_hop(s, dst.where()) for s in path.steps]
        end, end_id = path.end, path.end_id
        if end in DROPPED or end == LOOP:
            last = path.steps[-1]
            fix = f"add a route for {dst.where()} to {last.table_id}"
            if last.hub:
                fix += " (static, or propagated from the destination's attachment)"
            if end in (BLACKHOLE, LOOP):
                fix = "point the route at a live target, or remove it"
            return [
                *hops[:-1],
                blocked(hops[-1], path.detail or f"no route for {dst.where()}", fix),
            ]
        if end in (BOUNDARY, UNDETERMINED):
            beyond = Hop(
                end_kind(end_id),
                end_id,
                "",
                "",
                UNKNOWN,
                f"route to {dst.where()}",
                f"unknown beyond here: {path.detail}",
                audit_fix(end_id),
            )
            return [*hops, beyond]
        vpc_id = self.table_vpc(path.steps[-1])
        if end == DELIVERED:
            return [*hops, self.delivered(end_id, dst)]
        if end == "vpc-peering-connection":
            return [*hops, self.peering(end_id, vpc_id, dst)]
        if end == "internet-gateway":
            return [*hops, self.internet_gateway(end_id, vpc_id, src, dst, nat)]
        if end == "nat-gateway" and not nat:
            return [*hops, *self.nat_gateway(end_id, path, src, dst)]
        if end == "vpc-endpoint":
            return [*hops, self.gateway_endpoint(end_id, dst)]
        why = f"the route leaves for {end} {end_id}: unknown beyond here (not modelled)"
        return [*hops, Hop(end, end_id, "", "", UNKNOWN, f"route to {dst.where()}", why)]

    def table_vpc(self, step: Step) -> str:
        table = self.topo.route_tables.get(step.table_id)
        return table.vpc_id if table else ""

    def delivered(self, vpc_id: str, dst: Endpoint) -> Hop:
        at = here("vpc", vpc_id, self.topo.vpcs.get(vpc_id))
        check = f"deliver to {dst.where()}"
        if dst.vpc_id == vpc_id:
            return Hop(*at, ALLOW, check, "local route")
        if dst.outside:
            return Hop(
                *at, BLOCK, check, f"the address is in {vpc_id}'s range but in none of its subnets"
            )
        why = f"{dst.where()} is in {vpc_id}'s range too: its local route keeps the traffic"
        return Hop(
            *at, BLOCK, check, why, "VPCs with overlapping ranges cannot reach each other's overlap"
        )

    def peering(self, pcx_id: str, from_vpc: str, dst: Endpoint) -> Hop:
        pcx = self.topo.peerings.get(pcx_id)
        check = f"carry to {dst.where()}"
        if pcx is None:
            return Hop(
                "vpc-peering-connection",
                pcx_id,
                "",
                "",
                UNKNOWN,
                check,
                "not in the snapshot: unknown beyond here",
            )
        at = here("vpc-peering-connection", pcx.id, pcx.requester)
        if pcx.status != PEERING_ACTIVE:
            fix = "create a new peering and point the route at it"
            if pcx.status == "pending-acceptance":
                fix = (
                    f"the accepter ({pcx.accepter.account_id}/{pcx.accepter.region}) must accept it"
                )
            return Hop(*at, BLOCK, check, f"the peering is {pcx.status}", fix)
        other = pcx.accepter if pcx.requester.vpc_id == from_vpc else pcx.requester
        into = f"into {other.vpc_id} ({other.account_id}/{other.region})"
        if not self.topo.side_audited(other):
            why = f"{into}: not read by this audit, unknown beyond here"
            return Hop(*at, UNKNOWN, check, why, audit_fix(other.account_id, other.region))
        if not covered(dst.nets, self.topo.side_networks(other)):
            why = f"{into}: a peering carries only the peer VPC's own addresses (no transit)"
            return Hop(*at, BLOCK, check, why, "connect the two VPCs directly")
        if dst.vpc_id != other.vpc_id:
            return Hop(*at, BLOCK, check, f"{into}: {dst.text} is not there")
        return Hop(*at, ALLOW, check, into)

    def internet_gateway(
        self, igw_id: str, vpc_id: str, src: Endpoint, dst: Endpoint, nat: bool
    ) -> Hop:
        igw = self.topo.internet_gateways.get(igw_id)
        at = here("internet-gateway", igw_id, igw)
        check = f"out to {dst.where()}"
        if igw is not None and vpc_id not in igw.vpc_ids:
            return Hop(
                *at,
                BLOCK,
                check,
                f"{igw_id} is not attached to {vpc_id}",
                f"attach an internet gateway to {vpc_id}",
            )
        if not public(dst):
            return Hop(
                *at,
                BLOCK,
                check,
                "an internet gateway does not carry traffic to a private address",
            )
        eni = None if nat else src.eni
        if eni is not None and eni.private_ips and not eni.public_ip:
            why = f"{eni.id} has no public IPv4 address: the internet gateway does not translate it"
            return Hop(
                *at,
                BLOCK,
                check,
                why,
                f"associate an Elastic IP with {eni.id}, or route through a NAT gateway",
            )
        return Hop(
            *at,
            ALLOW,
            check,
            "to the internet" + (f" as {eni.public_ip}" if eni and eni.public_ip else ""),
        )

    def nat_gateway(self, nat_id: str, path: Path, src: Endpoint, dst: Endpoint) -> list[Hop]:
        nat = self.topo.nat_gateways.get(nat_id)
        at = here("nat-gateway", nat_id, nat)
        check = f"translate for {dst.where()}"
        subnet = self.topo.subnets.get(nat.subnet_id or "") if nat else None
        table = self.topo.table_for_subnet(subnet) if subnet else None
        if nat is None or subnet is None or table is None:
            return [
                Hop(
                    *at,
                    UNKNOWN,
                    check,
                    "the NAT gateway or its subnet's route table is not in the snapshot",
                )
            ]
        if not public(dst):
            return [
                Hop(*at, UNKNOWN, check, "beyond a NAT gateway to a private address: not modelled")
            ]
        if nat.connectivity_type == "private":
            return [
                Hop(
                    *at,
                    BLOCK,
                    check,
                    "a private NAT gateway does not reach the internet",
                    "route to a public NAT gateway",
                )
            ]
        onward = self.index.engine.follow(table, path.destination, subnet.availability_zone)
        return [
            Hop(*at, ALLOW, check, f"source translated to {nat.id}'s address"),
            *worst([self.judge(p, src, dst, nat=True) for p in onward]),
        ]

    def gateway_endpoint(self, endpoint_id: str, dst: Endpoint) -> Hop:
        endpoint = self.topo.endpoints.get(endpoint_id)
        at = here("vpc-endpoint", endpoint_id, endpoint)
        check = f"deliver to {dst.text}"
        if endpoint is None:
            return Hop(*at, UNKNOWN, check, "not in the snapshot: unknown beyond here")
        service = endpoint.service_name.rsplit(".", 1)[-1]
        if endpoint.endpoint_type.lower() == "gateway" and dst.kind in (service, "address"):
            return Hop(
                *at,
                ALLOW,
                check,
                f"gateway endpoint to {endpoint.service_name} (its policy is not evaluated)",
            )
        return Hop(
            *at, BLOCK, check, f"{endpoint.id} leads to {endpoint.service_name}, not to {dst.text}"
        )

    def from_internet(self, dst: Endpoint) -> list[Hop]:
        subnet = dst.subnet
        assert subnet is not None
        igw = next(
            (g for g in self.topo.snapshot.internet_gateways if subnet.vpc_id in g.vpc_ids), None
        )
        at = here("internet-gateway", igw.id if igw else "-", igw or subnet)
        check = f"in to {dst.where()}"
        if igw is None:
            return [
                Hop(
                    *at,
                    BLOCK,
                    check,
                    f"{subnet.vpc_id} has no internet gateway",
                    f"attach an internet gateway to {subnet.vpc_id}",
                )
            ]
        if dst.eni is not None and not dst.eni.public_ip:
            return [
                Hop(
                    *at,
                    BLOCK,
                    check,
                    f"{dst.eni.id} has no public IPv4 address",
                    f"associate an Elastic IP with {dst.eni.id}",
                )
            ]
        return [
            Hop(
                *at,
                ALLOW,
                check,
                "from the internet" + (f" to {dst.eni.public_ip}" if dst.eni else ""),
            )
        ]


def acl_decisions(
    entries: Sequence[NetworkAclEntry],
    egress: bool,
    nets: Sequence[Network],
    protocol: str,
    ports: Ports | None,
    icmp: int = ECHO_REQUEST,
) -> list[Decision]:
    """Which rule decides each piece of `ports` (for a question without ports, the whole of
    it), in rule-number order (`entries` sorted so): the first matching rule decides, and the
    final `*` (None) denies what no rule matched. `protocol` is a number ("6") or "-1"."""
    remaining: list[Ports] = [ports] if ports else []
    decided: list[Decision] = []
    for entry in entries:
        if entry.rule_number > LAST_RULE_NUMBER:
            continue  # AWS's own listing of the final `*`: decided below as None
        if entry.egress != egress or not entry_matches(entry, nets, protocol, icmp):
            continue
        hit = [p for r in remaining if (p := overlap(r, entry_ports(entry)))]
        if ports and not hit:
            continue
        decided.append((entry, tuple(hit)))
        remaining = [piece for r in remaining for piece in cut(r, entry_ports(entry))]
        if not remaining:
            return decided
    decided.append((None, tuple(remaining)))
    return decided


def acl_fix(acl_id: str, egress: bool, wanted: str, decider: NetworkAclEntry | None) -> str:
    """The fix where a network ACL drops `wanted`: an allow rule, or one numbered before the deny
    rule that decides (`decider`; None: the final `*`)."""
    if decider is None:
        return f"add an {'outbound' if egress else 'inbound'} allow rule to {acl_id} for {wanted}"
    number = decider.rule_number
    return f"rule {number} of {acl_id} denies it: allow {wanted} in a rule numbered below {number}, or change it"


def allowed_ports(decided: Iterable[Decision]) -> list[Ports]:
    """The asked ports that allow rules decide."""
    return [
        p
        for entry, hit in decided
        if entry is not None and entry.rule_action == "allow"
        for p in hit
    ]


def entry_matches(
    entry: NetworkAclEntry, nets: Sequence[Network], protocol: str, icmp: int
) -> bool:
    """Whether a network ACL rule covers the whole peer range and the protocol asked."""
    cidr = entry.cidr or entry.ipv6_cidr
    if cidr is None or not covered(nets, [network(cidr)]):
        return False
    if entry.protocol == "-1":
        return True
    if protocol == "1":
        return entry.protocol in ("1", "58") and entry.icmp_type in (None, -1, icmp)
    return entry.protocol == protocol


def here(component: str, id: str, owner: Any) -> At:
    """A hop's component, id and owner (whatever has account_id and region; None: unknown)."""
    return (component, id, getattr(owner, "account_id", ""), getattr(owner, "region", ""))


def stateful(eni: NetworkInterface) -> Hop:
    at = here("security-group", ", ".join(eni.security_group_ids) or "?", eni)
    return Hop(*at, ALLOW, f"reply at {eni.id}", "stateful: replies to allowed traffic pass")


def step_hop(step: Step, destination: str) -> Hop:
    component = "transit-gateway-route-table" if step.hub else "route-table"
    matched = f"{step.matched} -> {step.target}" if step.matched else ""
    if step.via:
        matched += f" (entered by {step.via})"
    check = f"route to {destination}"
    return Hop(component, step.table_id, step.account_id, step.region, ALLOW, check, matched)


def blocked(hop: Hop, detail: str, fix: str) -> Hop:
    matched = f"{hop.matched}: {detail}" if hop.matched else detail
    return dataclasses.replace(hop, verdict=BLOCK, matched=matched, fix=fix)


def worst(judged: list[list[Hop]]) -> list[Hop]:
    """The first path with a block, else the first with an unknown hop, else the first."""
    for verdict in (BLOCK, UNKNOWN):
        for hops in judged:
            if any(h.verdict == verdict for h in hops):
                return hops
    return judged[0]


def end_kind(end_id: str) -> str:
    prefixes = (
        ("tgw-rtb-", "transit-gateway-route-table"),
        ("tgw-attach-", "transit-gateway-attachment"),
        ("tgw-", "transit-gateway"),
        ("vpc-", "vpc"),
    )
    return next((kind for prefix, kind in prefixes if end_id.startswith(prefix)), "component")


def audit_fix(account_or_id: str, region: str = "") -> str:
    if account_or_id.isdigit():
        return (
            f"audit account {account_or_id}{' in ' + region if region else ''} too, to see beyond"
        )
    return "audit the account that owns it too, to see beyond"


def public(end: Endpoint) -> bool:
    return end.kind in WORDS or all(n.network_address.is_global for n in end.nets)


def covered(nets: Iterable[Network], by: Sequence[Network]) -> bool:
    """Whether every net lies inside one of `by`."""
    return all(any(inside(n, b) for b in by) for n in nets)


def overlap(a: Ports, b: Ports) -> Ports | None:
    low, high = max(a[0], b[0]), min(a[1], b[1])
    return (low, high) if low <= high else None


def cut(a: Ports, b: Ports) -> list[Ports]:
    """`a` without the ports of `b`."""
    return [p for p in ((a[0], min(a[1], b[0] - 1)), (max(a[0], b[1] + 1), a[1])) if p[0] <= p[1]]


def entry_ports(entry: NetworkAclEntry) -> Ports:
    """The ports a network ACL rule covers: all of them for all protocols or no range given."""
    if entry.protocol == "-1" or entry.from_port is None:
        return (0, 65535)
    return (entry.from_port, entry.from_port if entry.to_port is None else entry.to_port)


def ports_text(ports: Ports) -> str:
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"


def entry_text(entry: NetworkAclEntry) -> str:
    name = PROTOCOL_NAMES.get(entry.protocol, f"protocol {entry.protocol}")
    if entry.protocol in ("6", "17") and entry.from_port is not None:
        name += f" {ports_text(entry_ports(entry))}"
    elif entry.protocol in ("1", "58") and entry.icmp_type not in (None, -1):
        name += f" type {entry.icmp_type}"
    way = "to" if entry.egress else "from"
    return (
        f"rule {entry.rule_number} {entry.rule_action} {name} {way} {entry.cidr or entry.ipv6_cidr}"
    )


def rule_text(rule: SecurityGroupRule) -> str:
    name = PROTOCOL_NAMES.get(PROTOCOL_NUMBERS.get(rule.protocol, rule.protocol), rule.protocol)
    if rule.protocol != "-1" and rule.from_port is not None and rule.from_port >= 0:
        name += f" {ports_text((rule.from_port, rule.from_port if rule.to_port is None else rule.to_port))}"
    peers = [
        *rule.cidrs,
        *rule.ipv6_cidrs,
        *rule.prefix_list_ids,
        *(g.group_id for g in rule.groups),
    ]
    return f"{name} {', '.join(peers)}"
