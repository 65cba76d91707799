"""Property tests against brute-force oracles: CIDR set algebra, longest-prefix match, and
snapshot JSON round-trips (including malformed files, which must fail as InputError).

Address sets are modelled as Python sets of (version, integer) pairs inside small address
spaces, so every oracle is "enumerate the addresses and look at each one".
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import types
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.deliver.files import write_text
from auditor.errors import InputError
from auditor.model import SNAPSHOT_SCHEMA_VERSION, PrefixList, Route, RouteTable, Snapshot
from auditor.net import Network, Topology, collapse, inside, intersect, overlaps, subtract
from auditor.serial import dumps, from_jsonable, load_snapshot
from tests.builders import R1, route

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Addr = tuple[int, int]  # (IP version, integer address)


# --- oracle helpers -----------------------------------------------------------------------


def addresses(nets: Iterable[Network]) -> set[Addr]:
    out: set[Addr] = set()
    for net in nets:
        base = int(net.network_address)
        out.update((net.version, a) for a in range(base, base + net.num_addresses))
    return out


def contains(net: Network, addr: Addr) -> bool:
    base = int(net.network_address)
    return net.version == addr[0] and base <= addr[1] < base + net.num_addresses


def minimal_cidrs(addrs: set[Addr]) -> list[Network]:
    """The unique shortest CIDR list covering exactly `addrs` (greedy aligned blocks per run)."""
    out: list[Network] = []
    for version, cls, bits in ((4, ipaddress.IPv4Network, 32), (6, ipaddress.IPv6Network, 128)):
        ints = sorted(a for v, a in addrs if v == version)
        i = 0
        while i < len(ints):
            lo = hi = ints[i]
            while i + 1 < len(ints) and ints[i + 1] == hi + 1:
                i += 1
                hi = ints[i]
            i += 1
            while lo <= hi:
                size = 1
                while size < 2**bits and lo % (size * 2) == 0 and lo + size * 2 - 1 <= hi:
                    size *= 2
                out.append(cls((lo, bits - size.bit_length() + 1)))
                lo += size
    return sorted(out, key=net_key)


def net_key(net: Network) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


def assert_collapsed(result: list[Network], expected: set[Addr]) -> None:
    """`result` covers exactly `expected`, with no overlaps and no mergeable neighbours."""
    assert addresses(result) == expected
    assert sum(n.num_addresses for n in result) == len(expected), "overlapping networks"
    for i, a in enumerate(result):
        for b in result[i + 1 :]:
            assert not (a.version == b.version and a.overlaps(b)), (a, b)
            mergeable = (
                a.version == b.version
                and a.prefixlen == b.prefixlen
                and a.prefixlen > 0
                and a.supernet() == b.supernet()
            )
            assert not mergeable, (a, b)
    # Overlap-free and nothing to merge means it is the one minimal decomposition.
    assert sorted(result, key=net_key) == minimal_cidrs(expected)


# --- network strategies -------------------------------------------------------------------


def nets_in(space: str, deeper: int, min_deeper: int = 0) -> st.SearchStrategy[Network]:
    """Networks inside `space`, from `min_deeper` to `deeper` bits longer than it."""
    outer = ipaddress.ip_network(space)
    cls = type(outer)

    @st.composite
    def build(draw: st.DrawFn) -> Network:
        plen = draw(st.integers(outer.prefixlen + min_deeper, outer.prefixlen + deeper))
        index = draw(st.integers(0, 2 ** (plen - outer.prefixlen) - 1))
        size = 2 ** (outer.max_prefixlen - plen)
        return cls((int(outer.network_address) + index * size, plen))

    return build()


# Set algebra: 10.0.0.0/20 with /20../28, and a ::/120-style IPv6 space with /120../128.
V4_SET = nets_in("10.0.0.0/20", 8)
V6_SET = nets_in("fd00::/120", 8)
SET_NETS = st.lists(st.one_of(V4_SET, V4_SET, V6_SET), max_size=6)


@FAST
@given(SET_NETS)
def test_collapse_covers_exactly_and_is_minimal(nets: list[Network]) -> None:
    result = collapse(iter(nets))  # a generator must work too (both families read from it)
    assert_collapsed(result, addresses(nets))


@FAST
@given(SET_NETS, SET_NETS)
def test_subtract_matches_set_difference(nets: list[Network], minus: list[Network]) -> None:
    result = subtract(iter(nets), iter(minus))
    assert_collapsed(result, addresses(nets) - addresses(minus))


@FAST
@given(SET_NETS, SET_NETS)
def test_intersect_matches_set_intersection(nets: list[Network], others: list[Network]) -> None:
    result = intersect(iter(nets), iter(others))
    assert_collapsed(result, addresses(nets) & addresses(others))


@FAST
@given(st.one_of(V4_SET, V6_SET), st.one_of(V4_SET, V6_SET))
def test_overlaps_and_inside_match_address_sets(a: Network, b: Network) -> None:
    sa, sb = addresses([a]), addresses([b])
    assert overlaps(a, b) == bool(sa & sb)
    assert inside(a, b) == (sa <= sb)


def test_mixed_families_never_cross() -> None:
    """Same integers, different families: nothing cancels or merges across them."""
    v4 = ipaddress.ip_network("0.0.0.0/24")
    v6 = ipaddress.ip_network("::/120")
    assert collapse([v4, v6]) == [v4, v6]
    assert subtract([v4], [v6]) == [v4]
    assert subtract([v6], [v4]) == [v6]
    assert intersect([v4], [v6]) == []
    assert not overlaps(v4, v6)
    assert not inside(v4, v6)


# --- longest-prefix match -----------------------------------------------------------------

V4_RT, V6_RT = "10.0.0.0/23", "fd00::/119"
WIDE = [
    ipaddress.ip_network(c)
    for c in ("0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/22", "10.0.2.0/24", "::/0", "fd00::/16")
]
ROUTE_NETS = st.one_of(
    nets_in(V4_RT, 9), nets_in(V4_RT, 9), nets_in(V6_RT, 9), st.sampled_from(WIDE)
)
# Destinations: at most 256 addresses, so each one can be looked up on its own.
DESTINATIONS = st.one_of(nets_in(V4_RT, 9, 1), nets_in(V4_RT, 9, 1), nets_in(V6_RT, 9, 1))
TARGETS = ["local", "igw-1", "nat-1", "pcx-1", "tgw-1", "vgw-1", "eni-1"]
PROPAGATED = "EnableVgwRoutePropagation"


Case = tuple[RouteTable, list[PrefixList], list[Network]]


def near(net: Network) -> st.SearchStrategy[Network]:
    """Destinations (at most 256 addresses) inside `net`, or anywhere in its family's space."""
    space = ipaddress.ip_network(V4_RT if net.version == 4 else V6_RT)
    if not inside(net, space):
        return nets_in(str(space), 9, 1)
    return nets_in(
        str(net), space.prefixlen + 9 - net.prefixlen, max(0, space.prefixlen + 1 - net.prefixlen)
    )


@st.composite
def routing_cases(draw: st.DrawFn, max_destinations: int = 1) -> Case:
    """A route table, its prefix lists, and destinations to look up in it."""
    # A small pool of networks that routes, prefix lists and destinations reuse, so that equal
    # prefixes of different kinds (static, prefix list, propagated) meet often and the
    # tie-break matters.
    pool = draw(st.lists(ROUTE_NETS, min_size=1, max_size=3))
    dest = st.one_of(st.sampled_from(pool), st.sampled_from(pool), ROUTE_NETS)
    plists = [
        PrefixList(f"pl-{i}", R1, f"list-{i}", "111111111111", [str(n) for n in cidrs])
        for i, cidrs in enumerate(draw(st.lists(st.lists(dest, max_size=3), max_size=3)))
    ]
    routes: list[Route] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["static", "propagated", "prefix-list", "same-prefix"]))
        target = draw(st.sampled_from(TARGETS))
        if kind == "prefix-list":
            # pl-missing: a prefix list the snapshot does not hold carries nothing.
            plist = draw(st.sampled_from([p.id for p in plists] + ["pl-missing"]))
            routes.append(route(plist, target))
        elif kind == "same-prefix":
            # One prefix as two or three kinds of route, each with its own target.
            cidr = str(draw(dest))
            plists.append(PrefixList(f"pl-{len(plists)}", R1, "", "111111111111", [cidr]))
            twins = [
                route(cidr, target),
                route(plists[-1].id, draw(st.sampled_from(TARGETS))),
                route(cidr, draw(st.sampled_from(TARGETS)), origin=PROPAGATED),
            ]
            picked = draw(st.lists(st.sampled_from(range(3)), min_size=2, max_size=3, unique=True))
            routes += [twins[i] for i in picked]
        else:
            origin = PROPAGATED if kind == "propagated" else "CreateRoute"
            routes.append(route(str(draw(dest)), target, origin=origin))
    table = RouteTable("rtb-1", "111111111111", R1, "vpc-1", draw(st.permutations(routes)))
    destinations = draw(
        st.lists(
            st.one_of(DESTINATIONS, st.sampled_from(pool).flatmap(near)),
            min_size=1,
            max_size=max_destinations,
        )
    )
    return table, plists, destinations


def rank(r: Route) -> int:
    """Documented tie-break on equal prefix length: static CIDR < prefix list < propagated."""
    if r.origin == PROPAGATED:
        return 3
    return 2 if r.destination_prefix_list_id else 1


def oracle_routes(table: RouteTable, plists: list[PrefixList], addr: Addr) -> list[Route]:
    """The routes that win for one address (more than one only on a true tie)."""
    by_id = {p.id: p for p in plists}
    best: list[Route] = []
    best_key: tuple[int, int] | None = None
    for r in table.routes:
        if r.destination_prefix_list_id:
            plist = by_id.get(r.destination_prefix_list_id)
            cidrs = plist.cidrs if plist else []
        else:
            cidrs = [c for c in (r.destination_cidr, r.destination_ipv6_cidr) if c]
        lengths = [n.prefixlen for n in map(ipaddress.ip_network, cidrs) if contains(n, addr)]
        if not lengths:
            continue
        key = (max(lengths), -rank(r))
        if best_key is None or key > best_key:
            best, best_key = [r], key
        elif key == best_key:
            best.append(r)
    return best


def is_one_of(r: Route | None, candidates: list[Route]) -> bool:
    return any(r is c for c in candidates) if candidates else r is None


@FAST
@given(routing_cases())
def test_lookup_partitions_destination_by_longest_prefix(case: Case) -> None:
    table, plists, [destination] = case
    topo = Topology(Snapshot(route_tables=[table], prefix_lists=plists))
    hops = topo.lookup(table, destination)

    wanted = addresses([destination])
    for hop in hops:
        assert inside(hop.destination, destination), hop
    covered = addresses(h.destination for h in hops)
    assert covered == wanted, "gap or stray addresses"
    assert sum(h.destination.num_addresses for h in hops) == len(wanted), "overlapping hops"

    for hop in hops:
        for addr in addresses([hop.destination]):
            best = oracle_routes(table, plists, addr)
            assert is_one_of(hop.route, best), (hop, addr, best)


@FAST
@given(routing_cases(max_destinations=3), st.sampled_from(TARGETS))
def test_sends_surely_is_the_addresses_routed_to_target(case: Case, target: str) -> None:
    table, plists, destinations = case
    topo = Topology(Snapshot(route_tables=[table], prefix_lists=plists))
    result = topo.sends(table, iter(destinations), target).surely

    surely, maybe = set(), set()  # a true tie may go either way; anything else may not
    for addr in addresses(destinations):
        targets = {r.target_id for r in oracle_routes(table, plists, addr)}
        if targets == {target}:
            surely.add(addr)
        if target in targets:
            maybe.add(addr)
    got = addresses(result)
    assert surely <= got <= maybe
    assert_collapsed(result, got)
    # And it agrees with lookup, leaving out the pieces AWS settles at random.
    via_lookup = {
        a
        for d in destinations
        for h in topo.lookup(table, d)
        if h.route and h.route.target_id == target and not h.undetermined
        for a in addresses([h.destination])
    }
    assert got == via_lookup


def test_lookup_tie_break_on_equal_prefix() -> None:
    """The documented order, each pair in both table orders."""
    plist = PrefixList("pl-1", R1, "list", "111111111111", ["10.0.0.0/24"])
    static = route("10.0.0.0/24", "nat-1")
    listed = route("pl-1", "igw-1")
    propagated = route("10.0.0.0/24", "vgw-1", origin=PROPAGATED)
    dest = ipaddress.ip_network("10.0.0.0/25")
    for routes, winner in (
        ([static, listed], static),
        ([listed, propagated], listed),
        ([static, propagated], static),
        ([static, listed, propagated], static),
    ):
        for order in (routes, routes[::-1]):
            table = RouteTable("rtb-1", "111111111111", R1, "vpc-1", list(order))
            topo = Topology(Snapshot(route_tables=[table], prefix_lists=[plist]))
            [hop] = topo.lookup(table, dest)
            assert hop.route is winner, (order, hop)


# --- snapshot JSON round-trip -------------------------------------------------------------

TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=10),  # no lone surrogates (not in AWS data)
    st.sampled_from(
        [
            "",
            "<script>alert('x')</script>",
            'say "hi" \\ bye',
            "naïve ünïcode \u2013 ✓",
            "日本語のタグ",
            "🚀",
            "line\nbreak\ttab",
            "\u2028\u2029\x00",
            "null",
            "$.vpcs[0]: expected",
        ]
    ),
)
INTS = st.one_of(st.integers(-1, 65536), st.integers(-(2**70), 2**70))


def _optional_of(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        assert len(args) == 1, tp  # the model only uses `X | None`
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


CIDRS = st.one_of(
    st.builds(
        lambda a, n: str(ipaddress.ip_network((a, n), strict=False)),
        st.integers(0, 2**32 - 1),
        st.integers(0, 32),
    ),
    st.builds(
        lambda a, n: str(ipaddress.ip_network((a, n), strict=False)),
        st.integers(0, 2**128 - 1),
        st.integers(0, 128),
    ),
)
# What load_snapshot checks beyond types: *cidr* fields hold CIDRs, coverage status is ok/error,
# a NAT gateway's processed bytes and data points are counts.
COUNTS = st.integers(0, 2**63 - 1)
LEAVES = {
    "cidr": CIDRS,
    "status@Coverage": st.sampled_from(["ok", "error"]),
    "bytes@DataProcessed": COUNTS,
    "data_points@DataProcessed": COUNTS,
}


def strategy_for(tp: Any, leaf: st.SearchStrategy[Any] = TEXT) -> st.SearchStrategy[Any]:
    """A strategy for any type used in the model, with bounded lists and dicts."""
    base, optional = _optional_of(tp)
    if optional:
        return st.none() | strategy_for(base, leaf)
    origin = typing.get_origin(base)
    if origin is list:
        return st.lists(strategy_for(typing.get_args(base)[0], leaf), max_size=2)
    if origin is dict:
        return st.dictionaries(TEXT, strategy_for(typing.get_args(base)[1]), max_size=3)
    if dataclasses.is_dataclass(base):
        hints = typing.get_type_hints(base)
        kwargs = {
            f.name: strategy_for(hints[f.name], field_leaf(base, f.name))
            if f"{f.name}@{base.__name__}" not in LEAVES
            else LEAVES[f"{f.name}@{base.__name__}"]
            for f in dataclasses.fields(base)
        }
        return st.builds(typing.cast(Any, base), **kwargs)
    if base is str:
        return leaf
    if base is bool:
        return st.booleans()
    if base is int:
        return INTS
    raise AssertionError(f"no strategy for {tp!r}")


def field_leaf(cls: type, name: str) -> st.SearchStrategy[Any]:
    if "cidr" in name:
        return LEAVES["cidr"]
    return LEAVES.get(f"{name}@{cls.__name__}", TEXT)


@st.composite
def snapshots(draw: st.DrawFn, min_filled: int = 0) -> Snapshot:
    """Snapshots with a few resource lists filled (all of them every time is slow to draw)."""
    hints = typing.get_type_hints(Snapshot)
    names = [f.name for f in dataclasses.fields(Snapshot) if f.name != "schema_version"]
    lists = [n for n in names if typing.get_origin(hints[n]) is list]
    filled = draw(st.sets(st.sampled_from(lists), min_size=min_filled, max_size=4))
    kwargs = {n: draw(strategy_for(hints[n])) for n in names if n not in lists}
    for n in sorted(filled):
        item = strategy_for(typing.get_args(hints[n])[0])
        kwargs[n] = draw(st.lists(item, min_size=1, max_size=2))
    return Snapshot(schema_version=SNAPSHOT_SCHEMA_VERSION, **kwargs)


SNAPSHOTS = snapshots()


@pytest.fixture(scope="module")
def snap_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props") / "snapshot.json"


@settings(FAST, max_examples=100)
@given(SNAPSHOTS)
def test_snapshot_json_round_trip(snap: Snapshot) -> None:
    text = dumps(snap)
    back = from_jsonable(Snapshot, json.loads(text))
    assert back == snap
    assert dumps(back) == text


@settings(FAST, max_examples=100)
@given(SNAPSHOTS)
def test_load_snapshot_reads_what_dumps_wrote(snap_file: Path, snap: Snapshot) -> None:
    write_text(snap_file, dumps(snap))  # the CLI's own writer
    assert load_snapshot(snap_file) == snap


# Mutations: every place in the JSON, its declared type, and how to break it.


def _places(tp: Any, value: Any, path: str) -> Iterator[tuple[Any, Any, Any, str]]:
    """(declared type, container, key, JSON path) of every value below `value`."""
    base, _ = _optional_of(tp)
    if value is None:
        return
    origin = typing.get_origin(base)
    if dataclasses.is_dataclass(base):
        hints = typing.get_type_hints(base)
        children = [(hints[k], k, f"{path}.{k}") for k in value]
    elif origin is list:
        item = typing.get_args(base)[0]
        children = [(item, i, f"{path}[{i}]") for i in range(len(value))]
    elif origin is dict:
        item = typing.get_args(base)[1]
        children = [(item, k, f"{path}.{k}") for k in value]
    else:
        return
    for child_tp, key, child_path in children:
        yield child_tp, value, key, child_path
        yield from _places(child_tp, value[key], child_path)


def _wrong_here(tp: Any) -> list[Any]:
    """JSON values that are the wrong type for `tp` itself."""
    base, optional = _optional_of(tp)
    nulls = [] if optional else [None]
    if base is str:
        return [0, True, 1.5, [], {}, *nulls]
    if base is int:
        return ["7", True, 1.5, [], {}, *nulls]
    if base is bool:
        return [0, 1, "true", [], {}, *nulls]
    if typing.get_origin(base) is list:
        return ["x", 0, {}, *nulls]
    return ["x", 0, [], *nulls]  # dict or dataclass: expects an object


def _wrong(tp: Any) -> list[tuple[Any, str]]:
    """(bad value, path suffix the error must name) for a value declared as `tp`."""
    base, _ = _optional_of(tp)
    out = [(v, "") for v in _wrong_here(tp)]
    origin = typing.get_origin(base)
    if origin is list:
        out += [([v], "[0]") for v in _wrong_here(typing.get_args(base)[0])]
    elif origin is dict:
        out += [({"k": v}, ".k") for v in _wrong_here(typing.get_args(base)[1])]
    elif dataclasses.is_dataclass(base):
        out.append(({"no_such_field": 1}, ""))
        if any(_required(f) for f in dataclasses.fields(base)):
            out.append(({}, ""))
    return out


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


@st.composite
def broken_snapshots(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A dumped snapshot with one thing broken, and the text the error must contain."""
    data = json.loads(dumps(draw(snapshots(min_filled=1))))
    places = list(_places(Snapshot, data, "$"))
    objects = [(Snapshot, data, "$")] + [
        (_optional_of(tp)[0], container[key], path)
        for tp, container, key, path in places
        if dataclasses.is_dataclass(_optional_of(tp)[0]) and isinstance(container[key], dict)
    ]
    deletable = [
        (obj, path, f.name)
        for cls, obj, path in objects
        for f in dataclasses.fields(cls)
        if f.name in obj
        and (_required(f) or (cls is Snapshot and f.name in ("schema_version", "coverage")))
    ]
    kind = draw(st.sampled_from(["wrong type", "missing field", "unknown field"]))

    if kind == "missing field" and deletable:
        obj, path, name = draw(st.sampled_from(deletable))
        del obj[name]
        if path == "$":  # load_snapshot's own check: not a snapshot at all
            return data, name
        return data, f"{path}: missing field {name!r}"
    if kind == "unknown field":
        _, obj, path = draw(st.sampled_from(objects))
        obj["no_such_field"] = 1
        return data, f"{path}: unknown field 'no_such_field'"
    tp, container, key, path = draw(st.sampled_from(places))
    bad, suffix = draw(st.sampled_from(_wrong(tp)))
    container[key] = bad
    if path == "$.schema_version":  # checked before decoding, by name
        return data, "schema_version"
    return data, f"{path}{suffix}:"


@settings(FAST, max_examples=200)
@given(broken_snapshots())
def test_broken_snapshot_is_input_error_naming_the_path(
    snap_file: Path, broken: tuple[dict[str, Any], str]
) -> None:
    data, must_name = broken
    snap_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_snapshot(snap_file)
    message = str(caught.value)
    assert str(snap_file) in message
    assert must_name in message


@settings(FAST, max_examples=100)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_garbage_file_is_input_error(snap_file: Path, raw: bytes) -> None:
    snap_file.write_bytes(raw)
    with pytest.raises(InputError):
        load_snapshot(snap_file)


@pytest.mark.parametrize(
    "text",
    [
        '{"schema_version": 1, "coverage": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"schema_version": ' + "1" * 5000 + ', "coverage": []}',
    ],
    ids=["deep-nesting", "huge-integer"],
)
def test_pathological_json_is_input_error(snap_file: Path, text: str) -> None:
    snap_file.write_text(text, encoding="utf-8")
    with pytest.raises(InputError):
        load_snapshot(snap_file)
