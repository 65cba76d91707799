"""The network map's layout: snapshot + findings -> boxes and lines with coordinates.

A pure, deterministic function. It produces numbers and plain text only; the HTML template
turns the model into inline SVG elements with autoescape on, so no markup is built here and a
hostile Name tag stays text.

One map per (account, region) group: a grid of VPC boxes (peered VPCs placed next to each
other), peerings inside the group drawn between them, and a peering that leaves the group drawn
to a "peer" stub box naming the other side's account, region and VPC. A transit gateway that
VPCs of the group are attached to is a "hub" node with a line from each of those VPCs (its
owner may be another account: the hub is drawn wherever its attachments are). Findings on an
attachment colour its line; findings on the transit gateway itself, its route tables or its
attachments that are not drawn (VPN, peering, VPCs outside the audit) colour the hub node.
Default VPCs with no findings, no peerings and no attachments are only counted. A group with
more than `max_vpcs` VPCs gets no map: the template shows a table of `rows` instead.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from auditor.model import (
    Endpoint,
    Finding,
    NatGateway,
    Peering,
    PeeringSide,
    Severity,
    Snapshot,
    TransitGateway,
    TransitGatewayAttachment,
    Vpc,
    name_of,
)
from auditor.report.text import plural
from auditor.states import ATTACHMENT_LEAVING, ATTACHMENT_LIVE, ATTACHMENT_WAITING

EDGE_SEVERITY_MIN = int(Severity.MEDIUM)  # an edge takes a finding's colour from here up
PEERING_RESOURCE = "vpc-peering-connection"
PENDING_STATES = frozenset({"pending-acceptance", "initiating-request", "provisioning"})
GONE_STATES = frozenset({"deleted", "deleting", "failed", "rejected", "expired"})

MAX_MAP_VPCS = 60
# Account-regions drawn as maps, those with the worst findings first; the others are listed in
# one table. Each map is tens of kilobytes of SVG: an organisation's thousands would make the
# page too heavy for a browser, and nobody reads past the first few dozen anyway.
MAX_MAPS = 40
COLUMNS = 4
NODE_WIDTH = 220
NODE_BASE_HEIGHT = 84  # three text lines; each row of chips adds CHIP_ROW
CHIP_ROW = 22
STUB_HEIGHT = 76
GAP_X = 48
GAP_Y = 56
MARGIN = 16
CHIP_HEIGHT = 18
CHIP_PAD = 7
CHIP_GAP = 5
CHAR_WIDTH = 6.3  # average width of a chip/title character at the template's font sizes
TITLE_CHARS = 25
DETAIL_CHARS = 32
MARKER_RADIUS = 10
TABLE_OPEN_UP_TO = 6  # a map's peering or attachment table starts open up to this many


@dataclass(frozen=True)
class Chip:
    """A small label inside a VPC box ("S3 gw", "3 interface endpoints", "NAT x2")."""

    text: str
    kind: str  # "gateway-endpoint" | "interface-endpoint" | "gwlb-endpoint" | "nat" | "igw"
    x: float
    y: float
    width: float


@dataclass(frozen=True)
class Node:
    """A box: a VPC of the group (kind "vpc"), the far side of a peering (kind "peer") or a
    transit gateway the group's VPCs are attached to (kind "hub", `vpc_id` empty)."""

    key: str
    kind: str
    vpc_id: str
    account_id: str
    region: str
    title: str  # the Name tag or VPC id, shortened to fit
    subtitle: str
    detail: str
    tooltip: str  # full text, for the SVG <title>
    x: float
    y: float
    width: float
    height: float
    chips: tuple[Chip, ...] = ()
    findings: int = 0
    severity: str | None = None  # worst finding on the VPC
    severity_counts: tuple[tuple[str, int], ...] = ()
    is_default: bool = False
    audited: bool = True
    link: str | None = None  # in-page anchor of the peer's own map ("map-3"), for peer stubs
    lines: tuple[str, ...] = ()  # a peer stub's or hub's lines under its title
    transit_gateway_id: str | None = None  # hubs (kind "hub"): what selecting it filters by

    @property
    def count_width(self) -> int:
        """The width of the findings count's pill: wide enough for its digits."""
        return 16 + len(str(self.findings)) * 7


@dataclass(frozen=True)
class Edge:
    """A peering as a quadratic curve from (x1, y1) through control (cx, cy) to (x2, y2)."""

    number: int  # shown in the marker and the group's peering table
    peering_id: str
    status: str
    status_class: str  # "active" | "pending" | "other"
    source: str  # node keys
    target: str
    source_label: str
    target_label: str
    x1: float
    y1: float
    cx: float
    cy: float
    x2: float
    y2: float
    mx: float  # marker position (the curve's midpoint)
    my: float
    findings: int
    severity: str | None  # worst finding on the peering, any severity
    colour: str  # CSS class suffix: a severity (>= medium) or "status-<status_class>"
    line: str  # "dashed" (a finding >= medium) | "dotted" (not active) | "solid"
    marker_text: str
    marker_width: float
    tooltip: str


@dataclass(frozen=True)
class HubEdge:
    """A VPC attachment as a curve from the VPC's box to its transit gateway's hub node.

    Numbered after the group's peerings, so that each marker in a map names one line."""

    number: int
    attachment_id: str
    transit_gateway_id: str
    state: str
    status_class: str  # "active" | "pending" | "other"
    source: str  # the VPC's node key
    target: str  # the hub's node key
    source_label: str
    target_label: str
    x1: float
    y1: float
    cx: float
    cy: float
    x2: float
    y2: float
    mx: float
    my: float
    findings: int
    severity: str | None  # worst finding on the attachment, any severity
    colour: str  # as for peerings: a severity (>= medium) or "status-<status_class>"
    line: str  # as for peerings: "dashed" | "dotted" | "solid"
    marker_text: str
    marker_width: float
    tooltip: str


@dataclass(frozen=True)
class VpcRow:
    """One VPC as a table row, for groups too large to draw."""

    vpc_id: str
    name: str
    cidrs: str
    is_default: bool
    features: tuple[str, ...]
    peerings: int
    findings: int
    severity: str | None


@dataclass(frozen=True)
class Group:
    anchor: str  # "map-<n>": an in-page id built from a counter, never from data
    account_id: str
    region: str
    vpc_count: int  # every VPC of the group, drawn or not
    collapsed_defaults: int  # default VPCs with nothing to report, counted but not drawn
    peering_count: int
    findings: int
    severity: str | None
    too_large: bool
    drawn: bool = True  # False past MAX_MAPS: listed in the table of undrawn account-regions
    width: float = 0
    height: float = 0
    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()
    rows: tuple[VpcRow, ...] = ()
    transit_gateway_count: int = 0  # hubs the group's VPCs are attached to, drawn or not
    hub_edges: tuple[HubEdge, ...] = ()

    @property
    def vpc_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == "vpc")

    @property
    def peer_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == "peer")

    @property
    def hub_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == "hub")

    @property
    def peerings_open(self) -> bool:
        return len(self.edges) <= TABLE_OPEN_UP_TO

    @property
    def attachments_open(self) -> bool:
        return len(self.hub_edges) <= TABLE_OPEN_UP_TO


@dataclass(frozen=True)
class TopologyMap:
    groups: tuple[Group, ...]
    vpc_count: int
    peering_count: int
    max_vpcs: int
    max_maps: int = MAX_MAPS
    transit_gateway_count: int = 0  # transit gateways with an audited VPC attached

    @property
    def drawn(self) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if g.drawn)

    @property
    def undrawn(self) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if not g.drawn)


# --- findings ---


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, severity: str) -> None:
        self.counts[severity] = self.counts.get(severity, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def worst(self) -> str | None:
        if not self.counts:
            return None
        return max(self.counts, key=lambda s: (Severity.rank(s), s))

    def ordered(self) -> tuple[tuple[str, int], ...]:
        return tuple(
            sorted(self.counts.items(), key=lambda item: (-Severity.rank(item[0]), item[0]))
        )


@dataclass
class _Hubs:
    """The snapshot's transit gateways as the map sees them, and the findings on them."""

    gateways: dict[str, TransitGateway]
    # VPC attachments of the snapshot's VPCs, by VPC id: each is a line in the VPC's map.
    by_vpc: dict[str, list[TransitGatewayAttachment]]
    # (region, id) of a transit gateway, its route tables and attachments -> the gateway's id.
    hub_of: dict[tuple[str, str], str]
    lines: set[tuple[str, str]]  # (region, id) of the attachments drawn as lines
    attachment_types: dict[str, dict[str, int]]  # gateway -> live attachments by resource type
    line_findings: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    node_findings: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))


def _hubs(snapshot: Snapshot, vpcs: Mapping[str, Vpc]) -> _Hubs:
    """Transit gateways and attachments, each once (several accounts may see one)."""
    gateways: dict[str, TransitGateway] = {}
    for tgw in sorted(snapshot.transit_gateways, key=lambda t: (t.id, t.account_id)):
        gateways.setdefault(tgw.id, tgw)
    attachments: dict[tuple[str, str], TransitGatewayAttachment] = {}
    for a in sorted(
        snapshot.transit_gateway_attachments, key=lambda a: (a.region, a.id, a.account_id, a.state)
    ):
        attachments.setdefault((a.region, a.id), a)
    hub_of = {(t.region, t.id): t.id for t in gateways.values()}
    for table in snapshot.transit_gateway_route_tables:
        hub_of[(table.region, table.id)] = table.transit_gateway_id
    by_vpc: dict[str, list[TransitGatewayAttachment]] = defaultdict(list)
    lines: set[tuple[str, str]] = set()
    types: dict[str, dict[str, int]] = defaultdict(dict)
    for key, a in attachments.items():
        hub_of[key] = a.transit_gateway_id
        if a.state not in ATTACHMENT_LEAVING:
            kinds = types[a.transit_gateway_id]
            kinds[a.resource_type] = kinds.get(a.resource_type, 0) + 1
        if a.resource_type == "vpc" and a.resource_id in vpcs:
            by_vpc[a.resource_id].append(a)
            lines.add(key)
    return _Hubs(gateways, dict(by_vpc), hub_of, lines, dict(types))


def _tally_findings(
    findings: Iterable[Finding], hubs: _Hubs
) -> tuple[dict[str, _Tally], dict[str, _Tally]]:
    """(by VPC id, by peering id) for the findings that count (not suppressed); those on a
    transit gateway, its route tables or attachments go to `hubs` instead: they belong to the
    hub's lines and node, as a peering's belong to its line rather than to the VPC boxes."""
    by_vpc: dict[str, _Tally] = defaultdict(_Tally)
    by_peering: dict[str, _Tally] = defaultdict(_Tally)
    for finding in findings:
        if finding.suppressed:
            continue
        severity = str(finding.severity)
        resource = (finding.region, finding.resource_id)
        if finding.resource_type == PEERING_RESOURCE:
            by_peering[resource[1]].add(severity)
        elif resource in hubs.lines:
            hubs.line_findings[resource[1]].add(severity)
        elif resource in hubs.hub_of:
            hubs.node_findings[hubs.hub_of[resource]].add(severity)
        elif finding.vpc_id:
            by_vpc[finding.vpc_id].add(severity)
    return by_vpc, by_peering


def _describe(tally: _Tally | None) -> str:
    if tally is None or not tally.total:
        return "no findings"
    parts = ", ".join(f"{n} {s}" for s, n in tally.ordered())
    return f"{plural(tally.total, 'finding')}: {parts}"


# --- small text helpers (plain text; the template escapes it) ---


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _cidrs(vpc: Vpc) -> str:
    blocks = vpc.cidr_blocks + vpc.ipv6_cidr_blocks
    if not blocks:
        return "no CIDR"
    return blocks[0] + (f" +{len(blocks) - 1}" if len(blocks) > 1 else "")


def _service_short(service_name: str) -> str:
    last = service_name.rsplit(".", 1)[-1]
    return {"s3": "S3", "dynamodb": "DynamoDB"}.get(last, last)


def _features(
    endpoints: list[Endpoint], nats: list[NatGateway], has_igw: bool
) -> list[tuple[str, str]]:
    """(text, kind) of what the VPC has: gateway endpoints by service, counts of the rest."""
    features: list[tuple[str, str]] = []
    live = [e for e in endpoints if e.state.lower() not in GONE_STATES]
    for service in sorted(
        {_service_short(e.service_name) for e in live if e.endpoint_type.lower() == "gateway"}
    ):
        features.append((f"{service} gw", "gateway-endpoint"))
    interface = sum(1 for e in live if e.endpoint_type.lower() == "interface")
    if interface:
        features.append((plural(interface, "interface endpoint"), "interface-endpoint"))
    gwlb = sum(1 for e in live if e.endpoint_type.lower() == "gatewayloadbalancer")
    if gwlb:
        features.append((plural(gwlb, "GWLB endpoint"), "gwlb-endpoint"))
    nat = sum(1 for n in nats if n.state.lower() not in GONE_STATES)
    if nat:
        features.append(("NAT" if nat == 1 else f"NAT \u00d7{nat}", "nat"))
    if has_igw:
        features.append(("IGW", "igw"))
    return features


def _status_class(status: str) -> str:
    status = status.lower()
    if status == "active":
        return "active"
    return "pending" if status in PENDING_STATES else "other"


def _attachment_class(state: str) -> str:
    """An attachment's state in a peering's terms, so that both kinds of line read alike."""
    if state in ATTACHMENT_LIVE:
        return "active"
    return "pending" if state in ATTACHMENT_WAITING else "other"


# --- geometry ---


@dataclass
class _Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def contains(self, px: float, py: float, pad: float) -> bool:
        return (
            self.x - pad <= px <= self.x + self.w + pad
            and self.y - pad <= py <= self.y + self.h + pad
        )


def _border_point(box: _Box, towards: tuple[float, float]) -> tuple[float, float]:
    """Where the ray from the box's centre towards a point leaves the box."""
    cx, cy = box.centre
    dx, dy = towards[0] - cx, towards[1] - cy
    if dx == 0 and dy == 0:
        return (cx, cy)
    scale = min(
        (box.w / 2) / abs(dx) if dx else math.inf,
        (box.h / 2) / abs(dy) if dy else math.inf,
    )
    return (cx + dx * scale, cy + dy * scale)


def _bezier(
    p0: tuple[float, float], c: tuple[float, float], p2: tuple[float, float], t: float
) -> tuple[float, float]:
    u = 1 - t
    return (
        u * u * p0[0] + 2 * u * t * c[0] + t * t * p2[0],
        u * u * p0[1] + 2 * u * t * c[1] + t * t * p2[1],
    )


def _route(
    a: _Box, b: _Box, obstacles: list[_Box], bend: float, canvas: _Box
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """Start, control and end point of a curve from a to b that avoids the other boxes.

    Tries a straight line (or the requested bend, for parallel peerings), then bends further
    either way until no sample of the curve falls inside another box; keeps the least crossing.
    """
    (ax, ay), (bx, by) = a.centre, b.centre
    length = math.hypot(bx - ax, by - ay) or 1.0
    nx, ny = -(by - ay) / length, (bx - ax) / length  # unit normal
    mid = ((ax + bx) / 2, (ay + by) / 2)
    candidates = [bend] + [
        bend + sign * step for step in (40, 80, 130, 190, 260) for sign in (1, -1)
    ]
    best: tuple[int, tuple[float, float]] | None = None
    for offset in candidates:
        # A quadratic curve's midpoint sits halfway to its control point: double the offset.
        control = (mid[0] + nx * offset * 2, mid[1] + ny * offset * 2)
        hits = 0
        for step in range(1, 24):
            px, py = _bezier(a.centre, control, b.centre, step / 24)
            if a.contains(px, py, 0) or b.contains(px, py, 0):
                continue
            hits += sum(1 for box in obstacles if box.contains(px, py, 6))
            hits += 0 if canvas.contains(px, py, -4) else 3
        if best is None or hits < best[0]:
            best = (hits, control)
        if hits == 0:
            break
    assert best is not None
    control = best[1]
    return (_border_point(a, control), control, _border_point(b, control))


# --- building the model ---


@dataclass
class _Link:
    """A peering as seen from one group: its own VPC to a VPC of the group or to a stub."""

    peering: Peering
    near: PeeringSide
    far: PeeringSide
    internal: bool


def _dedupe_peerings(peerings: Iterable[Peering]) -> list[Peering]:
    seen: dict[str, Peering] = {}
    for peering in peerings:
        seen.setdefault(peering.id, peering)
    return [seen[key] for key in sorted(seen)]


def build_topology(
    snapshot: Snapshot,
    findings: Iterable[Finding],
    *,
    max_vpcs: int = MAX_MAP_VPCS,
    max_maps: int = MAX_MAPS,
) -> TopologyMap:
    """The map model for a snapshot and the report's findings."""
    vpcs = {v.id: v for v in sorted(snapshot.vpcs, key=lambda v: (v.account_id, v.region, v.id))}
    hubs = _hubs(snapshot, vpcs)
    by_vpc_findings, by_peering_findings = _tally_findings(findings, hubs)
    group_of = {v.id: (v.account_id, v.region) for v in vpcs.values()}
    endpoints: dict[str, list[Endpoint]] = defaultdict(list)
    for endpoint in snapshot.endpoints:
        endpoints[endpoint.vpc_id].append(endpoint)
    nats: dict[str, list[NatGateway]] = defaultdict(list)
    for nat in snapshot.nat_gateways:
        nats[nat.vpc_id].append(nat)
    igw_vpcs = {vpc_id for igw in snapshot.internet_gateways for vpc_id in igw.vpc_ids}

    peerings = _dedupe_peerings(snapshot.peerings)
    links: dict[tuple[str, str], list[_Link]] = defaultdict(list)
    peered: set[str] = set()
    for peering in peerings:
        requester, accepter = peering.requester, peering.accepter
        for near, far in ((requester, accepter), (accepter, requester)):
            if near.vpc_id not in vpcs:
                continue
            peered.add(near.vpc_id)
            internal = group_of.get(far.vpc_id) == group_of[near.vpc_id]
            if internal and near is accepter:
                continue  # drawn once, from the requester
            links[group_of[near.vpc_id]].append(_Link(peering, near, far, internal))

    members: dict[tuple[str, str], list[Vpc]] = defaultdict(list)
    for vpc in vpcs.values():
        members[group_of[vpc.id]].append(vpc)
    keys = sorted(members)
    anchors = {key: f"map-{i}" for i, key in enumerate(keys, start=1)}

    tallies = {
        key: _group_tally(
            members[key], links.get(key, []), by_vpc_findings, by_peering_findings, hubs
        )
        for key in keys
    }
    worst_first = sorted(
        keys, key=lambda k: (-Severity.rank(tallies[k].worst), -tallies[k].total, k)
    )
    drawn = set(worst_first[:max_maps])
    groups = [
        _build_group(
            key,
            anchors,
            members[key],
            links.get(key, []),
            peered,
            vpcs,
            group_of,
            by_vpc_findings,
            by_peering_findings,
            hubs,
            tallies[key],
            endpoints,
            nats,
            igw_vpcs,
            max_vpcs,
            key in drawn,
        )
        for key in keys
    ]
    return TopologyMap(
        groups=tuple(groups),
        vpc_count=len(vpcs),
        peering_count=len(peerings),
        max_vpcs=max_vpcs,
        max_maps=max_maps,
        transit_gateway_count=len(
            {a.transit_gateway_id for atts in hubs.by_vpc.values() for a in atts}
        ),
    )


def _group_tally(
    vpcs_here: list[Vpc],
    links: list[_Link],
    by_vpc_findings: dict[str, _Tally],
    by_peering_findings: dict[str, _Tally],
    hubs: _Hubs,
) -> _Tally:
    """The findings of an account-region's VPCs, of its peerings and of the transit gateways
    its VPCs are attached to (their nodes and this group's lines to them)."""
    parts = [by_vpc_findings.get(vpc.id) for vpc in vpcs_here]
    parts += [by_peering_findings.get(p) for p in {link.peering.id for link in links}]
    attachments = [a for vpc in vpcs_here for a in hubs.by_vpc.get(vpc.id, [])]
    parts += [hubs.line_findings.get(a.id) for a in attachments]
    parts += [hubs.node_findings.get(t) for t in {a.transit_gateway_id for a in attachments}]
    tally = _Tally()
    for part in parts:
        for severity, n in (part.counts if part else {}).items():
            tally.counts[severity] = tally.counts.get(severity, 0) + n
    return tally


def _build_group(
    key: tuple[str, str],
    anchors: dict[tuple[str, str], str],
    vpcs_here: list[Vpc],
    links: list[_Link],
    peered: set[str],
    vpcs: dict[str, Vpc],
    group_of: dict[str, tuple[str, str]],
    by_vpc_findings: dict[str, _Tally],
    by_peering_findings: dict[str, _Tally],
    hubs: _Hubs,
    tally: _Tally,
    endpoints: dict[str, list[Endpoint]],
    nats: dict[str, list[NatGateway]],
    igw_vpcs: set[str],
    max_vpcs: int,
    drawn: bool,
) -> Group:
    """One account-region's map (or table past max_vpcs); only its header when not drawn."""
    account_id, region = key

    def quiet_default(vpc: Vpc) -> bool:
        return (
            vpc.is_default
            and vpc.id not in peered
            and vpc.id not in by_vpc_findings
            and vpc.id not in hubs.by_vpc
        )

    shown = [v for v in vpcs_here if not quiet_default(v)]
    collapsed = len(vpcs_here) - len(shown)
    attachments = sorted(
        (a for v in shown for a in hubs.by_vpc.get(v.id, [])),
        key=lambda a: (a.transit_gateway_id, a.resource_id, a.id),
    )
    hub_keys = sorted({_hub_key(a.transit_gateway_id) for a in attachments})
    header = Group(
        anchor=anchors[key],
        account_id=account_id,
        region=region,
        vpc_count=len(vpcs_here),
        collapsed_defaults=collapsed,
        peering_count=len({link.peering.id for link in links}),
        findings=tally.total,
        severity=tally.worst,
        # Peer stubs take room too: a map also gives way to the table past twice the cap.
        too_large=len(shown) > max_vpcs
        or len(shown) + len({_stub_key(lk.far) for lk in links if not lk.internal}) + len(hub_keys)
        > 2 * max_vpcs,
        drawn=drawn,
        transit_gateway_count=len(hub_keys),
    )
    if not drawn:
        return header
    features = {
        v.id: _features(endpoints.get(v.id, []), nats.get(v.id, []), v.id in igw_vpcs)
        for v in shown
    }

    if header.too_large:
        peer_counts: dict[str, int] = defaultdict(int)
        for link in links:
            peer_counts[link.near.vpc_id] += 1
            if link.internal:
                peer_counts[link.far.vpc_id] += 1
        rows = tuple(
            VpcRow(
                vpc_id=v.id,
                name=name_of(v.tags),
                cidrs=", ".join(v.cidr_blocks + v.ipv6_cidr_blocks),
                is_default=v.is_default,
                features=tuple(text for text, _ in features[v.id])
                + tuple(
                    f"TGW {t}"
                    for t in sorted({a.transit_gateway_id for a in hubs.by_vpc.get(v.id, [])})
                ),
                peerings=peer_counts.get(v.id, 0),
                findings=by_vpc_findings[v.id].total if v.id in by_vpc_findings else 0,
                severity=by_vpc_findings[v.id].worst if v.id in by_vpc_findings else None,
            )
            for v in sorted(shown, key=lambda v: _worst_first(v, by_vpc_findings.get(v.id)))
        )
        return replace(header, rows=rows)

    chip_rows = {v.id: _chip_rows(features[v.id]) for v in shown}
    rows_needed = max([len(rows) for rows in chip_rows.values()] + [1])
    cell_height = NODE_BASE_HEIGHT + CHIP_ROW * rows_needed

    # Peer stubs (the far side of each link that leaves the group) share the grid with the
    # VPCs, so that each sits next to the VPC it is peered with.
    stubs: dict[str, PeeringSide] = {}
    for link in sorted((lk for lk in links if not lk.internal), key=lambda lk: _stub_key(lk.far)):
        stubs.setdefault(_stub_key(link.far), link.far)
    neighbours: dict[str, set[str]] = {v.id: set() for v in shown}
    neighbours.update({key: set() for key in stubs})
    neighbours.update({key: set() for key in hub_keys})
    pairs = [
        (link.near.vpc_id, link.far.vpc_id if link.internal else _stub_key(link.far))
        for link in links
    ]
    pairs += [(a.resource_id, _hub_key(a.transit_gateway_id)) for a in attachments]
    for a, b in pairs:
        if a in neighbours and b in neighbours and a != b:
            neighbours[a].add(b)
            neighbours[b].add(a)
    sort_keys = {v.id: (0, *_vpc_sort_key(v)) for v in shown}
    sort_keys.update({key: (1, False, key, key) for key in stubs})
    sort_keys.update({key: (2, False, key, key) for key in hub_keys})
    pitch = (NODE_WIDTH + GAP_X, cell_height + GAP_Y)
    cells = _place(neighbours, sort_keys, pitch)

    boxes: dict[str, _Box] = {}
    nodes: list[Node] = []
    by_id = {v.id: v for v in shown}
    for node_key in sorted(cells, key=lambda k: cells[k]):
        row, col = cells[node_key]
        x, y = MARGIN + col * pitch[0], MARGIN + row * pitch[1]
        if node_key in by_id:
            box = _Box(x, y, NODE_WIDTH, cell_height)
            nodes.append(
                _vpc_node(by_id[node_key], box, chip_rows[node_key], by_vpc_findings.get(node_key))
            )
        elif node_key in hub_keys:
            box = _Box(x, y + (cell_height - STUB_HEIGHT) / 2, NODE_WIDTH, STUB_HEIGHT)
            tgw_id = node_key.removeprefix("hub:")
            here = [a for a in attachments if a.transit_gateway_id == tgw_id]
            nodes.append(_hub_node(node_key, tgw_id, here, account_id, box, hubs))
        else:
            box = _Box(x, y + (cell_height - STUB_HEIGHT) / 2, NODE_WIDTH, STUB_HEIGHT)
            nodes.append(_stub_node(node_key, stubs[node_key], box, vpcs, group_of, anchors))
        boxes[node_key] = box
    columns = max([c for _, c in cells.values()] + [0]) + 1
    grid_rows = max([r for r, _ in cells.values()] + [0]) + 1
    width = MARGIN * 2 + columns * NODE_WIDTH + (columns - 1) * GAP_X
    height = MARGIN * 2 + grid_rows * cell_height + (grid_rows - 1) * GAP_Y
    canvas = _Box(0, 0, width, height)
    placed: list[_Box] = []  # markers already placed
    edges = _edges(links, boxes, by_peering_findings, vpcs, canvas, placed)
    hub_edges = _hub_edges(attachments, len(edges) + 1, boxes, hubs, vpcs, canvas, placed)
    return replace(
        header,
        width=width,
        height=height,
        nodes=tuple(nodes),
        edges=tuple(edges),
        hub_edges=tuple(hub_edges),
    )


def _worst_first(vpc: Vpc, tally: _Tally | None) -> tuple[int, int, bool, str, str]:
    worst = Severity.rank(tally.worst) if tally else -1
    return (-worst, -(tally.total if tally else 0), *_vpc_sort_key(vpc))


def _vpc_sort_key(vpc: Vpc) -> tuple[bool, str, str]:
    name = name_of(vpc.tags)
    return (vpc.is_default, name.lower() if name else "\uffff", vpc.id)


def _place(
    neighbours: dict[str, set[str]],
    sort_keys: dict[str, tuple[int, bool, str, str]],
    pitch: tuple[float, float],
) -> dict[str, tuple[int, int]]:
    """Grid cells (row, column): greedy, the best connected node first, near the centre, then
    each next node (the one with most neighbours already placed) in the free cell closest to
    them; unconnected nodes fill the remaining cells in reading order."""
    count = len(neighbours)
    if not count:
        return {}
    columns = max(1, min(COLUMNS, count))
    rows = math.ceil(count / columns)
    free = {(r, c) for r in range(rows) for c in range(columns)}
    centre = ((rows - 1) / 2, (columns - 1) / 2)

    def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
        return math.hypot((a[0] - b[0]) * pitch[1], (a[1] - b[1]) * pitch[0])

    placed: dict[str, tuple[int, int]] = {}
    remaining = set(neighbours)
    while remaining:
        pick = min(
            remaining,
            key=lambda k: (
                -sum(1 for n in neighbours[k] if n in placed),
                -len(neighbours[k]),
                sort_keys[k],
            ),
        )
        anchors = [placed[n] for n in sorted(neighbours[pick]) if n in placed]
        if anchors:
            cell = min(
                free,
                key=lambda c: (
                    round(sum(distance(c, a) for a in anchors), 3),
                    round(distance(c, centre), 3),
                    c,
                ),
            )
        elif neighbours[pick]:
            cell = min(free, key=lambda c: (round(distance(c, centre), 3), c))
        else:
            cell = min(free)
        free.discard(cell)
        placed[pick] = cell
        remaining.discard(pick)
    return placed


def _chip_rows(features: list[tuple[str, str]]) -> list[list[tuple[str, str, float]]]:
    """Chips (text, kind, width) wrapped into rows that fit the box."""
    rows: list[list[tuple[str, str, float]]] = []
    used = math.inf
    room = NODE_WIDTH - 2 * 12
    for text, kind in features:
        width = round(len(text) * CHAR_WIDTH + 2 * CHIP_PAD, 1)
        if used + CHIP_GAP + width > room:
            rows.append([])
            used = -CHIP_GAP
        rows[-1].append((text, kind, width))
        used += CHIP_GAP + width
    return rows


def _vpc_node(
    vpc: Vpc, box: _Box, chip_rows: list[list[tuple[str, str, float]]], tally: _Tally | None
) -> Node:
    name = name_of(vpc.tags)
    title = _shorten(name or vpc.id, TITLE_CHARS)
    subtitle = vpc.id if name else ("default VPC" if vpc.is_default else "no Name tag")
    if name and vpc.is_default:
        subtitle += " \u00b7 default"
    chips = []
    for r, row in enumerate(chip_rows):
        x = box.x + 12
        for text, kind, width in row:
            chips.append(Chip(text, kind, x, box.y + NODE_BASE_HEIGHT - 12 + r * CHIP_ROW, width))
            x += width + CHIP_GAP
    cidrs = ", ".join(vpc.cidr_blocks + vpc.ipv6_cidr_blocks) or "no CIDR"
    tooltip = "\n".join(
        [
            f"{name or vpc.id}" + (" (default VPC)" if vpc.is_default else ""),
            f"{vpc.id} \u00b7 account {vpc.account_id} \u00b7 {vpc.region}",
            cidrs,
            _describe(tally),
        ]
    )
    return Node(
        key=vpc.id,
        kind="vpc",
        vpc_id=vpc.id,
        account_id=vpc.account_id,
        region=vpc.region,
        title=title,
        subtitle=subtitle,
        detail=_shorten(_cidrs(vpc), DETAIL_CHARS),
        tooltip=tooltip,
        x=box.x,
        y=box.y,
        width=box.w,
        height=box.h,
        chips=tuple(chips),
        findings=tally.total if tally else 0,
        severity=tally.worst if tally else None,
        severity_counts=tally.ordered() if tally else (),
        is_default=vpc.is_default,
    )


def _stub_key(side: PeeringSide) -> str:
    return f"peer:{side.account_id}:{side.region}:{side.vpc_id}"


def _stub_node(
    key: str,
    far: PeeringSide,
    box: _Box,
    vpcs: dict[str, Vpc],
    group_of: dict[str, tuple[str, str]],
    anchors: dict[tuple[str, str], str],
) -> Node:
    vpc = vpcs.get(far.vpc_id)
    name = name_of(vpc.tags) if vpc else ""
    audited = vpc is not None
    title = _shorten(name or far.vpc_id, TITLE_CHARS)
    where = f"{far.account_id} \u00b7 {far.region}"
    detail = "audited: select to see its map" if audited else "not in this audit"
    lines = ((far.vpc_id,) if name else ()) + (where, detail)
    tooltip = "\n".join(
        [
            f"Peer VPC {name + ' ' if name else ''}{far.vpc_id}",
            f"account {far.account_id} \u00b7 {far.region}",
            detail,
        ]
    )
    return Node(
        key=key,
        kind="peer",
        vpc_id=far.vpc_id,
        account_id=far.account_id,
        region=far.region,
        title=title,
        subtitle=where,
        detail=detail,
        tooltip=tooltip,
        x=box.x,
        y=box.y,
        width=box.w,
        height=box.h,
        audited=audited,
        link=anchors[group_of[far.vpc_id]] if audited else None,
        lines=lines,
    )


def _marker_spot(
    curve: tuple[tuple[float, float], tuple[float, float], tuple[float, float]],
    width: float,
    taken: list[_Box],
    canvas: _Box,
) -> tuple[tuple[float, float], float]:
    """A point on the curve where the marker covers no box and no other marker (and how much
    it covers, when there is no such point)."""
    best: tuple[float, tuple[float, float]] | None = None
    for t in (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.2, 0.8):
        px, py = _bezier(*curve, t)
        marker = _Box(px - width / 2, py - MARKER_RADIUS, width, 2 * MARKER_RADIUS)
        overlap = sum(_overlap(marker, box) for box in taken)
        overlap += marker.w * marker.h - _overlap(marker, canvas)
        if best is None or overlap < best[0]:
            best = (overlap, (px, py))
        if overlap == 0:
            break
    assert best is not None
    return best[1], best[0]


def _overlap(a: _Box, b: _Box) -> float:
    dx = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    dy = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _side_label(side: PeeringSide, vpcs: dict[str, Vpc]) -> str:
    return _vpc_label(side.vpc_id, vpcs)


def _vpc_label(vpc_id: str, vpcs: dict[str, Vpc]) -> str:
    vpc = vpcs.get(vpc_id)
    name = name_of(vpc.tags) if vpc else ""
    return f"{name} ({vpc_id})" if name else vpc_id


@dataclass(frozen=True)
class _Line:
    """Where a line and its marker go (rounded for the template)."""

    x1: float
    y1: float
    cx: float
    cy: float
    x2: float
    y2: float
    mx: float
    my: float
    marker_text: str
    marker_width: float


def _line(
    source: str,
    target: str,
    parallel: int,
    number: int,
    status: str,
    active: bool,
    boxes: dict[str, _Box],
    canvas: _Box,
    placed: list[_Box],
) -> _Line:
    """The curve from one box to another (bent apart from the `parallel` lines drawn before it
    between the same boxes) and its marker, which it adds to `placed`. The marker names a
    status that is not active, where that fits between the boxes."""
    bend = 0.0 if not parallel else 22.0 * ((parallel + 1) // 2) * (1 if parallel % 2 else -1)
    obstacles = [box for k, box in boxes.items() if k not in (source, target)]
    curve = _route(boxes[source], boxes[target], obstacles, bend, canvas)
    taken = list(boxes.values()) + placed
    marker_text = str(number)
    marker_width = float(2 * MARKER_RADIUS)
    (mx, my), _ = _marker_spot(curve, marker_width, taken, canvas)
    if not active:
        text = f"{number} {status}"
        width = round(len(text) * 6.4 + 12, 1)
        spot, overlap = _marker_spot(curve, width, taken, canvas)
        if overlap == 0:
            marker_text, marker_width, (mx, my) = text, width, spot
    placed.append(_Box(mx - marker_width / 2, my - MARKER_RADIUS, marker_width, 2 * MARKER_RADIUS))
    (x1, y1), (cx, cy), (x2, y2) = curve
    return _Line(
        x1=round(x1, 1),
        y1=round(y1, 1),
        cx=round(cx, 1),
        cy=round(cy, 1),
        x2=round(x2, 1),
        y2=round(y2, 1),
        mx=round(mx, 1),
        my=round(my, 1),
        marker_text=marker_text,
        marker_width=marker_width,
    )


def _edges(
    links: list[_Link],
    boxes: dict[str, _Box],
    by_peering_findings: dict[str, _Tally],
    vpcs: dict[str, Vpc],
    canvas: _Box,
    placed: list[_Box],
) -> list[Edge]:
    ordered = sorted(links, key=lambda lk: (lk.peering.id, lk.near.vpc_id))
    pairs: dict[frozenset[str], int] = defaultdict(int)
    edges = []
    for number, link in enumerate(ordered, start=1):
        source = link.near.vpc_id
        target = link.far.vpc_id if link.internal else _stub_key(link.far)
        pair = frozenset((source, target))
        parallel = pairs[pair]
        pairs[pair] += 1
        peering = link.peering
        status_class = _status_class(peering.status)
        geometry = _line(
            source,
            target,
            parallel,
            number,
            peering.status,
            status_class == "active",
            boxes,
            canvas,
            placed,
        )
        tally = by_peering_findings.get(peering.id)
        colour, line = _look(tally, status_class)
        source_label = _side_label(link.near, vpcs)
        target_label = _side_label(link.far, vpcs)
        if not link.internal:
            target_label += f" (account {link.far.account_id}, {link.far.region})"
        tooltip = "\n".join(
            [
                f"#{number} {peering.id} ({peering.status})",
                f"{source_label} \u2194 {target_label}",
                _describe(tally),
            ]
        )
        edges.append(
            Edge(
                number=number,
                peering_id=peering.id,
                status=peering.status,
                status_class=status_class,
                source=source,
                target=target,
                source_label=source_label,
                target_label=target_label,
                **_geometry(geometry),
                findings=tally.total if tally else 0,
                severity=tally.worst if tally else None,
                colour=colour,
                line=line,
                tooltip=tooltip,
            )
        )
    return edges


def _geometry(line: _Line) -> dict[str, Any]:
    return {name: getattr(line, name) for name in _Line.__dataclass_fields__}


def _look(tally: _Tally | None, status_class: str) -> tuple[str, str]:
    """(colour, line style) of a line: a finding of medium or worse shows, else the status."""
    worst = tally.worst if tally else None
    if worst is not None and Severity.rank(worst) >= EDGE_SEVERITY_MIN:
        return worst, "dashed"
    return f"status-{status_class}", "solid" if status_class == "active" else "dotted"


def _hub_key(tgw_id: str) -> str:
    return f"hub:{tgw_id}"


def _hub_label(tgw_id: str, hubs: _Hubs) -> str:
    tgw = hubs.gateways.get(tgw_id)
    name = name_of(tgw.tags) if tgw else ""
    return f"{name} ({tgw_id})" if name else tgw_id


def _hub_node(
    key: str,
    tgw_id: str,
    here: list[TransitGatewayAttachment],
    account_id: str,
    box: _Box,
    hubs: _Hubs,
) -> Node:
    """A transit gateway: its name, owner and attachments; its own findings (and its route
    tables' and undrawn attachments') on the box. The owner is the gateway's, else the one
    its attachments name (the account that owns the gateway they attach to)."""
    tgw = hubs.gateways.get(tgw_id)
    owner = tgw.account_id if tgw else here[0].account_id
    region = tgw.region if tgw else here[0].region
    name = name_of(tgw.tags) if tgw else ""
    types = hubs.attachment_types.get(tgw_id, {})
    total = sum(types.values())
    shared = owner != account_id
    lines = (
        tgw_id if name else "transit gateway",
        f"owner {owner}" + (" \u00b7 shared" if shared else ""),
        plural(total, "attachment"),
    )
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(types.items()))
    tally = hubs.node_findings.get(tgw_id)
    tooltip = "\n".join(
        [
            f"Transit gateway {name + ' ' if name else ''}{tgw_id}",
            f"owner {owner} \u00b7 {region}"
            + (" (another account: shared with this one)" if shared else ""),
            f"{plural(total, 'attachment')} seen by this audit"
            + (f" ({kinds})" if kinds else "")
            + f"; {len(here)} from this map's VPCs",
            "on the gateway and its route tables: " + _describe(tally),
        ]
        + ([] if tgw else ["not read by this audit: drawn from its attachments"])
    )
    return Node(
        key=key,
        kind="hub",
        vpc_id="",
        account_id=owner,
        region=region,
        title=_shorten(name or tgw_id, TITLE_CHARS),
        subtitle=lines[0],
        detail=lines[-1],
        tooltip=tooltip,
        x=box.x,
        y=box.y,
        width=box.w,
        height=box.h,
        findings=tally.total if tally else 0,
        severity=tally.worst if tally else None,
        severity_counts=tally.ordered() if tally else (),
        audited=tgw is not None,
        lines=lines,
        transit_gateway_id=tgw_id,
    )


def _hub_edges(
    attachments: list[TransitGatewayAttachment],
    first: int,
    boxes: dict[str, _Box],
    hubs: _Hubs,
    vpcs: dict[str, Vpc],
    canvas: _Box,
    placed: list[_Box],
) -> list[HubEdge]:
    """A line from each attached VPC to its hub, numbered from `first`."""
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    edges = []
    for number, attachment in enumerate(attachments, start=first):
        source, target = attachment.resource_id, _hub_key(attachment.transit_gateway_id)
        parallel = pairs[(source, target)]
        pairs[(source, target)] += 1
        status_class = _attachment_class(attachment.state)
        geometry = _line(
            source,
            target,
            parallel,
            number,
            attachment.state,
            status_class == "active",
            boxes,
            canvas,
            placed,
        )
        tally = hubs.line_findings.get(attachment.id)
        colour, line = _look(tally, status_class)
        source_label = _vpc_label(source, vpcs)
        target_label = _hub_label(attachment.transit_gateway_id, hubs)
        tooltip = "\n".join(
            [
                f"#{number} {attachment.id} ({attachment.state})",
                f"{source_label} \u2192 transit gateway {target_label}",
                _describe(tally),
            ]
        )
        edges.append(
            HubEdge(
                number=number,
                attachment_id=attachment.id,
                transit_gateway_id=attachment.transit_gateway_id,
                state=attachment.state,
                status_class=status_class,
                source=source,
                target=target,
                source_label=source_label,
                target_label=target_label,
                **_geometry(geometry),
                findings=tally.total if tally else 0,
                severity=tally.worst if tally else None,
                colour=colour,
                line=line,
                tooltip=tooltip,
            )
        )
    return edges
