"""CIDR set algebra at the edges of the address spaces, against ipaddress's own collapse and
exclude. test_properties checks the same functions inside small spaces; these reach /0, the top
address of each family and mixed families, where integer-range arithmetic could slip by one."""

from __future__ import annotations

import ipaddress
import random

from auditor.model import Route, RouteTable, Snapshot
from auditor.net import Network, Topology, collapse, intersect, network, subtract

EDGES = [
    "0.0.0.0/0",
    "0.0.0.0/1",
    "128.0.0.0/1",
    "255.255.255.255/32",
    "255.255.255.0/24",
    "0.0.0.0/32",
    "0.0.0.0/31",
    "0.0.0.1/32",
    "255.255.255.254/31",
    "10.0.0.0/8",
    "10.0.0.0/24",
    "10.0.1.0/24",
    "::/0",
    "::/1",
    "8000::/1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
    "::/127",
    "::1/128",
    "fd00::/8",
    "fd00::/64",
    "fd00:0:0:1::/64",
]


def stdlib_collapse(nets: list[Network]) -> list[Network]:
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def stdlib_subtract(nets: list[Network], minus: list[Network]) -> list[Network]:
    remaining = stdlib_collapse(nets)
    for cut in stdlib_collapse(minus):
        pieces: list[Network] = []
        for net in remaining:
            if net.version != cut.version or not net.overlaps(cut):
                pieces.append(net)
            elif not net.subnet_of(cut):  # type: ignore[arg-type]
                pieces.extend(net.address_exclude(cut))  # type: ignore[arg-type]
        remaining = pieces
    return stdlib_collapse(remaining)


def test_set_algebra_matches_ipaddress_at_the_edges() -> None:
    rnd = random.Random(5)
    for _ in range(3000):
        nets = [network(c) for c in rnd.sample(EDGES, rnd.randint(0, 4))]
        others = [network(c) for c in rnd.sample(EDGES, rnd.randint(0, 4))]
        assert collapse(iter(nets)) == stdlib_collapse(nets)
        assert subtract(iter(nets), iter(others)) == stdlib_subtract(nets, others)
        expected = stdlib_subtract(nets, stdlib_subtract(nets, others))  # a & b = a - (a - b)
        assert intersect(iter(nets), iter(others)) == expected


def test_resolve_to_a_target_the_table_never_names_is_empty() -> None:
    table = RouteTable(
        "rtb-1", "111111111111", "us-east-1", "vpc-1", [Route("nat-gateway", "nat-1", "0.0.0.0/0")]
    )
    topo = Topology(Snapshot(route_tables=[table]))
    assert topo.resolve_to(table, [network("10.0.0.0/8")], "pcx-1") == []
    assert topo.resolve_to(table, [network("10.0.0.0/8")], "nat-1") == [network("10.0.0.0/8")]
