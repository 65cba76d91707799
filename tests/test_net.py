"""CIDR set algebra at the edges of the address spaces, against ipaddress's own collapse and
exclude. test_properties checks the same functions inside small spaces; these reach /0, the top
address of each family and mixed families, where integer-range arithmetic could slip by one."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.model import PrefixList, Route, RouteTable, Snapshot
from auditor.net import Network, Sent, Topology, collapse, intersect, network, subtract
from tests.builders import route
from tests.test_properties import TARGETS, Case, addresses, oracle_routes, rank, routing_cases

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


def test_sends_to_a_target_the_table_never_names_is_empty() -> None:
    table = RouteTable(
        "rtb-1", "111111111111", "us-east-1", "vpc-1", [Route("nat-gateway", "nat-1", "0.0.0.0/0")]
    )
    topo = Topology(Snapshot(route_tables=[table]))
    assert topo.sends(table, [network("10.0.0.0/8")], "pcx-1") == ([], [])
    assert topo.sends(table, [network("10.0.0.0/8")], "nat-1") == ([network("10.0.0.0/8")], [])


# --- ties AWS settles at random -----------------------------------------------------------
# VPC user guide, "Route priority" (route-tables-priority.html#route-priority-managed-prefix-list):
# "If your route table references multiple prefix lists that have overlapping CIDR blocks to
# different targets, we randomly choose which route takes priority. Thereafter, the same route
# always takes priority." The snapshot cannot tell which one AWS chose.

PLISTS = [
    PrefixList("pl-a", "us-east-1", "a", "111111111111", ["10.0.0.0/24"]),
    PrefixList("pl-b", "us-east-1", "b", "111111111111", ["10.0.0.0/24", "10.9.0.0/24"]),
]


def tied_table(*routes: Route) -> tuple[Topology, RouteTable]:
    table = RouteTable("rtb-1", "111111111111", "us-east-1", "vpc-1", list(routes))
    return Topology(Snapshot(route_tables=[table], prefix_lists=list(PLISTS))), table


def test_prefix_lists_overlapping_to_different_targets_leave_the_route_undetermined() -> None:
    to_peering, to_hub = route("pl-a", "pcx-1"), route("pl-b", "tgw-1")
    for order in ((to_peering, to_hub), (to_hub, to_peering)):
        topo, table = tied_table(*order)
        [hop] = topo.lookup(table, network("10.0.0.0/24"))
        assert hop.undetermined
        assert {r.target_id for r in hop.candidates} == {"pcx-1", "tgw-1"}
        assert hop.route is order[0]  # the first in table order, flagged as a guess
        [other] = topo.lookup(table, network("10.9.0.0/24"))  # only pl-b holds it
        assert other.route is to_hub and not other.undetermined


def test_prefix_lists_overlapping_to_the_same_target_decide_nothing() -> None:
    topo, table = tied_table(route("pl-a", "pcx-1"), route("pl-b", "pcx-1"))
    [hop] = topo.lookup(table, network("10.0.0.0/24"))
    assert not hop.undetermined and hop.route is table.routes[0]


def test_static_route_beats_tied_prefix_lists() -> None:
    # "the static route with the destination CIDR block takes priority" over prefix-list routes
    static = route("10.0.0.0/24", "nat-1")
    topo, table = tied_table(route("pl-a", "pcx-1"), route("pl-b", "tgw-1"), static)
    [hop] = topo.lookup(table, network("10.0.0.0/24"))
    assert hop.route is static and not hop.undetermined


def test_more_specific_route_settles_part_of_a_tie() -> None:
    specific = route("10.0.0.0/25", "nat-1")
    topo, table = tied_table(route("pl-a", "pcx-1"), route("pl-b", "tgw-1"), specific)
    hops = {str(h.destination): h for h in topo.lookup(table, network("10.0.0.0/24"))}
    assert hops["10.0.0.0/25"].route is specific and not hops["10.0.0.0/25"].undetermined
    assert hops["10.0.0.128/25"].undetermined


def test_sends_keeps_the_tied_pieces_apart() -> None:
    topo, table = tied_table(route("pl-a", "pcx-1"), route("pl-b", "tgw-1"))
    wide = [network("10.0.0.0/8")]
    assert topo.sends(table, wide, "pcx-1") == Sent([], [network("10.0.0.0/24")])
    assert topo.sends(table, wide, "tgw-1") == Sent(
        [network("10.9.0.0/24")], [network("10.0.0.0/24")]
    )
    assert topo.sends(table, wide, "nat-1") == Sent([], [])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routing_cases(max_destinations=2), st.sampled_from(TARGETS))
def test_undetermined_exactly_where_aws_may_pick_either_target(case: Case, target: str) -> None:
    """Per address, against the oracle: a hop is undetermined exactly when the winning routes
    are prefix-list routes to more than one target, and sends() splits surely from maybe
    accordingly. Other equal routes (two static routes for one CIDR, which AWS refuses) keep
    the first in table order, as before."""
    table, plists, destinations = case
    topo = Topology(Snapshot(route_tables=[table], prefix_lists=plists))
    surely, maybe = set(), set()
    for destination in destinations:
        for hop in topo.lookup(table, destination):
            for addr in addresses([hop.destination]):
                best = oracle_routes(table, plists, addr)
                targets = {r.target_id for r in best}
                random_pick = len(targets) > 1 and rank(best[0]) == 2
                assert hop.undetermined == random_pick, (hop, best)
                assert {id(r) for r in hop.candidates} <= {id(r) for r in best}
                if random_pick and target in targets:
                    maybe.add(addr)
                elif not random_pick and hop.route and hop.route.target_id == target:
                    surely.add(addr)
    sent = topo.sends(table, destinations, target)
    assert addresses(sent.surely) == surely
    assert addresses(sent.maybe) == maybe


@pytest.mark.parametrize(
    "cidr",
    [
        "10.0.0.0/16",
        "10.0.0.5/16",
        "0.0.0.0/0",
        "255.255.255.255/32",
        "1.2.3.4/024",
        "10.0.0.0",
        "10.0.0.0/255.0.0.0",
        "2001:db8::/32",
        "10.0.0.0/33",
        "010.0.0.0/8",
        "10.0.0/8",
        "10.0.0.0/+8",
        "10.0.0.0/\u0662",
        " 10.0.0.0/8",
        "10.0.0.256/8",
        "1.2.3.4/",
        "",
    ],
)
def test_network_parses_exactly_as_ipaddress(cidr: str) -> None:
    """The fast IPv4 path accepts, masks and rejects (with ipaddress's message) the same."""
    try:
        expected: object = ipaddress.ip_network(cidr, strict=False)
    except ValueError as error:
        with pytest.raises(ValueError) as raised:
            network.__wrapped__(cidr)
        assert str(raised.value) == str(error)
        return
    got = network.__wrapped__(cidr)
    assert got == expected and type(got) is type(expected)
