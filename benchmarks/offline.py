"""Offline benchmark: rules + JSON/HTML rendering on synthetic snapshots of 1k, 5k and 10k VPCs.

Run by hand (not a test):  python benchmarks/offline.py [--sizes 1000 5000 10000] [--repeat 3]
                           [--estate peering|hub] [--reach N] [--processes N]

The rules run as the CLI runs them: with its default --processes, a snapshot of 2,000+ VPCs has
its rules split between two processes on a machine with two cores (auditor/rules/processes.py);
`--processes 1` keeps them in one.

Each size runs in a fresh child process so that peak RSS belongs to that size alone. The estate
averages 5 route tables and 1 peering per VPC, with NAT egress, gateway and interface endpoints,
security groups and flow logs on some VPCs, so every rule has work and findings number in the
tens of thousands.

`--estate hub` measures a hub-and-spoke estate instead: the VPCs behind 20 transit gateways (5
per region), each with an egress VPC (NAT gateway) and two hub route tables (the spokes', with a
default route to egress and a propagated route per spoke, and egress's, a propagated route per
spoke: 500+ routes each at 10k VPCs). One spoke in ten lacks its S3 and DynamoDB gateway
endpoints (its three tables are reported by both egress rules, through the hub), and a few lack
an attachment subnet in one zone, a hub route or DNS support, so every hub rule has findings.

Both estates have network ACLs (a default allow-all ACL per VPC) and VPCs that talk: one client
VPC in ten (a peer, or the next spoke on the same hub) has an app interface, its server VPC a
database interface whose group admits the client's range on 5432; one server in twenty sits behind
a custom ACL that lets out only HTTPS, dropping the replies (peering-nacl-blocks / tgw-nacl-blocks
fire a little, and sg-peer-reference-unreachable where the estate left out the route back).

`--reach N` times N `vpc-audit reach` queries after the snapshot is built (app interface to
database, and their subnets, across peerings and hubs): the first includes building the topology
and reach's index, the median is of the others.

Peak RSS is the child's high-water mark (ru_maxrss), read three times: after building the
snapshot, after the rules ("+rules": snapshot and rules, before any rendering, so the rules
stage's own peak) and at the end ("+render": the whole child, JSON and HTML included).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.model import (
    Coverage,
    Endpoint,
    FlowLog,
    InternetGateway,
    NatGateway,
    NetworkAcl,
    NetworkAclEntry,
    NetworkInterface,
    Peering,
    PeeringSide,
    PrefixList,
    Route,
    RouteTable,
    RouteTableAssociation,
    Scope,
    SecurityGroup,
    SecurityGroupRule,
    Snapshot,
    Subnet,
    TransitGateway,
    TransitGatewayAttachment,
    TransitGatewayRoute,
    TransitGatewayRouteTable,
    Vpc,
)

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"]
VPCS_PER_ACCOUNT_REGION = 25


def synthetic_snapshot(n_vpcs: int, seed: int = 7) -> Snapshot:
    rnd = random.Random(seed)
    snap = Snapshot(scope=Scope(partition="aws"))
    places = []
    for i in range(n_vpcs):
        account = f"{100000000000 + i // (VPCS_PER_ACCOUNT_REGION * len(REGIONS)):012d}"
        region = REGIONS[(i // VPCS_PER_ACCOUNT_REGION) % len(REGIONS)]
        places.append((account, region))
        vpc_id = f"vpc-{i:08x}"
        second, third = divmod(i, 256)
        cidr = f"10.{second % 256}.{third}.0/24" if i < 65536 else f"172.16.{third}.0/24"
        snap.vpcs.append(
            Vpc(
                vpc_id,
                account,
                region,
                [cidr],
                dns_support=rnd.random() > 0.02,
                dns_hostnames=rnd.random() > 0.3,
                tags={"Name": f"vpc-{i}"},
            )
        )
        base = cidr.rsplit(".", 1)[0]
        subnets = [
            Subnet(
                f"subnet-{i:08x}{s}",
                account,
                region,
                vpc_id,
                f"{base}.{s * 64}/26",
                availability_zone=f"{region}{'abc'[s % 3]}",
            )
            for s in range(3)
        ]
        snap.subnets += subnets
        nat = f"nat-{i:08x}"
        snap.nat_gateways.append(NatGateway(nat, account, region, vpc_id, subnets[0].id))
        tables = []
        for t in range(5):
            routes = [Route("local", "local", destination_cidr=cidr)]
            if t > 0:
                routes.append(Route("nat-gateway", nat, destination_cidr="0.0.0.0/0"))
            if t == 1 and rnd.random() > 0.5:
                routes.append(
                    Route(
                        "vpc-endpoint",
                        f"vpce-s3{i:08x}",
                        destination_prefix_list_id=f"pl-s3-{region}",
                    )
                )
            assoc = [RouteTableAssociation(f"rtbassoc-{i}-{t}", main=True)] if t == 0 else []
            if 0 < t <= len(subnets) - 1:
                assoc.append(RouteTableAssociation(f"rtbassoc-{i}-{t}s", subnet_id=subnets[t].id))
            tables.append(RouteTable(f"rtb-{i:08x}{t}", account, region, vpc_id, routes, assoc))
        snap.route_tables += tables
        snap.endpoints.append(
            Endpoint(
                f"vpce-s3{i:08x}",
                account,
                region,
                vpc_id,
                "Gateway",
                f"com.amazonaws.{region}.s3",
                route_table_ids=[tables[1].id],
            )
        )
        if rnd.random() > 0.6:
            snap.endpoints.append(
                Endpoint(
                    f"vpce-if{i:08x}",
                    account,
                    region,
                    vpc_id,
                    "Interface",
                    f"com.amazonaws.{region}.ssm",
                    subnet_ids=[subnets[1].id],
                    security_group_ids=[f"sg-{i:08x}"],
                    private_dns_enabled=rnd.random() > 0.2,
                    policy_document='{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}',
                )
            )
        snap.security_groups.append(
            SecurityGroup(
                f"sg-{i:08x}",
                account,
                region,
                vpc_id,
                "default",
                ingress=[
                    SecurityGroupRule(
                        "tcp", 22, 22, cidrs=["0.0.0.0/0"] if rnd.random() > 0.8 else ["10.0.0.0/8"]
                    )
                ],
                egress=[SecurityGroupRule("-1", cidrs=["0.0.0.0/0"])],
            )
        )
        snap.network_interfaces.append(
            NetworkInterface(f"eni-{i:08x}", account, region, vpc_id, subnets[1].id)
        )
        if rnd.random() > 0.5:
            snap.flow_logs.append(FlowLog(f"fl-{i:08x}", account, region, vpc_id))
    # One peering per VPC on average: each VPC peers with two others, half of them both ways.
    talks: list[tuple[int, int]] = []
    talk = random.Random(seed + 1)  # apart from rnd, so the rest of the estate stays as it was
    for i in range(n_vpcs):
        j = (i * 7919 + 1) % n_vpcs
        if i == j:
            continue
        a, b = snap.vpcs[i], snap.vpcs[j]
        status = rnd.choices(["active", "pending-acceptance", "deleted"], [0.85, 0.1, 0.05])[0]
        pcx = f"pcx-{i:08x}"
        snap.peerings.append(
            Peering(
                pcx,
                status,
                PeeringSide(
                    a.account_id,
                    a.region,
                    a.id,
                    a.cidr_blocks,
                    allow_dns_resolution_from_remote_vpc=rnd.random() > 0.3,
                ),
                PeeringSide(
                    b.account_id,
                    b.region,
                    b.id,
                    b.cidr_blocks,
                    allow_dns_resolution_from_remote_vpc=rnd.random() > 0.3,
                ),
            )
        )
        snap.route_tables[i * 5 + 2].routes.append(
            Route("vpc-peering-connection", pcx, destination_cidr=b.cidr_blocks[0])
        )
        if rnd.random() > 0.3:
            snap.route_tables[j * 5 + 2].routes.append(
                Route("vpc-peering-connection", pcx, destination_cidr=a.cidr_blocks[0])
            )
        if status == "active" and talk.random() < 0.1:
            talks.append((i, j))
    talking(snap, talks, subnet_index=2)
    snap.prefix_lists = service_prefix_lists()
    snap.coverage = [Coverage(a, r, "ok") for a, r in sorted(set(places))]
    snap.scope.accounts = sorted({a for a, _ in places})
    snap.scope.regions = sorted({r for _, r in places})
    return snap


HUBS_PER_REGION = 5


def service_prefix_lists() -> list[PrefixList]:
    """Each region's S3 and DynamoDB prefix lists, with a few of their real CIDRs."""
    services = {
        "s3": ("s3", ["52.216.0.0/15", "3.5.0.0/19", "54.231.0.0/16"]),
        "ddb": ("dynamodb", ["52.94.0.0/22", "3.218.180.0/22"]),
    }
    return [
        PrefixList(f"pl-{short}-{region}", region, f"com.amazonaws.{region}.{name}", "AWS", cidrs)
        for region in REGIONS
        for short, (name, cidrs) in services.items()
    ]


def hub_snapshot(n_vpcs: int, seed: int = 7) -> Snapshot:
    """n_vpcs spokes behind 20 transit gateways with centralised egress (see the docstring)."""
    rnd = random.Random(seed)
    snap = Snapshot(scope=Scope(partition="aws"))
    places = set()
    hubs: dict[str, tuple[TransitGatewayRouteTable, TransitGatewayRouteTable]] = {}
    for r, region in enumerate(REGIONS):
        network_account = f"{999999999900 + r:012d}"
        places.add((network_account, region))
        for k in range(HUBS_PER_REGION):
            tgw_id, egress = f"tgw-{r}{k:07x}", f"vpc-eg{r}{k:05x}"
            snap.transit_gateways.append(
                TransitGateway(
                    tgw_id, network_account, region, dns_support=True,
                    auto_accept_shared_attachments=False,
                )
            )  # fmt: skip
            cidr = f"100.{64 + r * HUBS_PER_REGION + k}.0.0/16"
            snap.vpcs.append(
                Vpc(egress, network_account, region, [cidr], dns_support=True, dns_hostnames=True)
            )
            base = cidr.rsplit(".", 2)[0]
            eg_tgw = Subnet(
                f"subnet-egt{r}{k}",
                network_account,
                region,
                egress,
                f"{base}.255.0/28",
                availability_zone=f"{region}a",
            )
            eg_pub = Subnet(
                f"subnet-egp{r}{k}",
                network_account,
                region,
                egress,
                f"{base}.0.0/24",
                availability_zone=f"{region}a",
            )
            snap.subnets += [eg_tgw, eg_pub]
            nat = f"nat-eg{r}{k}"
            snap.nat_gateways.append(NatGateway(nat, network_account, region, egress, eg_pub.id))
            snap.internet_gateways.append(
                InternetGateway(f"igw-eg{r}{k}", network_account, region, [egress])
            )
            local = Route("local", "local", destination_cidr=cidr)
            snap.route_tables += [
                RouteTable(f"rtb-egt{r}{k}", network_account, region, egress, [local, Route("nat-gateway", nat, destination_cidr="0.0.0.0/0"), Route("transit-gateway", tgw_id, destination_cidr="10.0.0.0/8")], [RouteTableAssociation(f"a-egt{r}{k}", subnet_id=eg_tgw.id)]),
                RouteTable(f"rtb-egp{r}{k}", network_account, region, egress, [local, Route("internet-gateway", f"igw-eg{r}{k}", destination_cidr="0.0.0.0/0"), Route("transit-gateway", tgw_id, destination_cidr="10.0.0.0/8")], [RouteTableAssociation(f"a-egp{r}{k}", subnet_id=eg_pub.id, main=False)]),
            ]  # fmt: skip
            eg_attach = f"tgw-attach-eg{r}{k}"
            snap.transit_gateway_attachments.append(
                TransitGatewayAttachment(eg_attach, network_account, region, tgw_id, "vpc", egress, network_account, subnet_ids=[eg_tgw.id], dns_support=True, appliance_mode_support=False)
            )  # fmt: skip
            spokes = TransitGatewayRouteTable(
                f"tgw-rtb-s{r}{k}", network_account, region, tgw_id,
                associations=[],
                routes=[TransitGatewayRoute("static", destination_cidr="0.0.0.0/0", attachment_ids=[eg_attach])],
            )  # fmt: skip
            back = TransitGatewayRouteTable(
                f"tgw-rtb-e{r}{k}", network_account, region, tgw_id, associations=[eg_attach]
            )
            snap.transit_gateway_route_tables += [spokes, back]
            hubs[tgw_id] = (spokes, back)
    for i in range(n_vpcs):
        account = f"{100000000000 + i // (VPCS_PER_ACCOUNT_REGION * len(REGIONS)):012d}"
        r = (i // VPCS_PER_ACCOUNT_REGION) % len(REGIONS)
        region = REGIONS[r]
        places.add((account, region))
        tgw_id = f"tgw-{r}{(i // 100) % HUBS_PER_REGION:07x}"
        spokes, back = hubs[tgw_id]
        vpc_id = f"vpc-{i:08x}"
        second, third = divmod(i, 256)
        cidr = f"10.{second % 256}.{third}.0/24"
        snap.vpcs.append(
            Vpc(
                vpc_id,
                account,
                region,
                [cidr],
                dns_support=True,
                dns_hostnames=True,
                tags={"Name": f"spoke-{i}"},
            )
        )
        base = cidr.rsplit(".", 1)[0]
        subnets = [
            Subnet(f"subnet-{i:08x}{s}", account, region, vpc_id, f"{base}.{s * 64}/26", availability_zone=f"{region}{'abc'[s]}")
            for s in range(3)
        ]  # fmt: skip
        snap.subnets += subnets
        # Most spokes have their own S3 and DynamoDB gateway endpoints (an organisation's
        # baseline); the others send both through the hub to the egress NAT gateway.
        endpoint = rnd.random() > 0.1
        tables = []
        for t in range(3):
            routes = [
                Route("local", "local", destination_cidr=cidr),
                Route("transit-gateway", tgw_id, destination_cidr="0.0.0.0/0"),
            ]
            if endpoint:
                routes += [
                    Route(
                        "vpc-endpoint",
                        f"vpce-{short}{i:08x}",
                        destination_prefix_list_id=f"pl-{short}-{region}",
                    )
                    for short in ("s3", "ddb")
                ]
            assoc = [
                RouteTableAssociation(
                    f"rtbassoc-{i}-{t}", main=t == 0, subnet_id=None if t == 0 else subnets[t].id
                )
            ]
            tables.append(RouteTable(f"rtb-{i:08x}{t}", account, region, vpc_id, routes, assoc))
        snap.route_tables += tables
        if endpoint:
            snap.endpoints += [
                Endpoint(
                    f"vpce-{short}{i:08x}",
                    account,
                    region,
                    vpc_id,
                    "Gateway",
                    f"com.amazonaws.{region}.{service}",
                    route_table_ids=[t.id for t in tables],
                )
                for short, service in (("s3", "s3"), ("ddb", "dynamodb"))
            ]
        attach = f"tgw-attach-{i:08x}"
        zones = 2 if rnd.random() < 0.02 else 3  # a few attachments miss a zone
        snap.transit_gateway_attachments.append(
            TransitGatewayAttachment(
                attach, spokes.account_id, region, tgw_id, "vpc", vpc_id, account,
                state="pendingAcceptance" if rnd.random() < 0.005 else "available",
                subnet_ids=[s.id for s in subnets[:zones]],
                dns_support=rnd.random() > 0.01, appliance_mode_support=False,
            )
        )  # fmt: skip
        spokes.associations.append(attach)
        spoke_route = TransitGatewayRoute(
            "propagated", destination_cidr=cidr, attachment_ids=[attach]
        )
        spokes.routes.append(spoke_route)
        if rnd.random() > 0.01:  # a few spokes are missing from the egress table
            back.routes.append(spoke_route)
        snap.security_groups.append(
            SecurityGroup(f"sg-{i:08x}", account, region, vpc_id, "default", egress=[SecurityGroupRule("-1", cidrs=["0.0.0.0/0"])])
        )  # fmt: skip
        snap.flow_logs.append(FlowLog(f"fl-{i:08x}", account, region, vpc_id))
    # The next spoke on the same hub talks to this one, now and then.
    talk = random.Random(seed + 1)
    talks = [(i + 1, i) for i in range(n_vpcs - 1) if (i + 1) % 100 and talk.random() < 0.1]
    spokes_at = len(snap.vpcs) - n_vpcs  # the egress VPCs come first
    talking(snap, [(spokes_at + c, spokes_at + s) for c, s in talks], subnet_index=1)
    snap.prefix_lists = service_prefix_lists()
    snap.coverage = [Coverage(a, r, "ok") for a, r in sorted(places)]
    snap.scope.accounts = sorted({a for a, _ in places})
    snap.scope.regions = sorted(REGIONS)
    return snap


def talking(snap: Snapshot, pairs: list[tuple[int, int]], subnet_index: int) -> None:
    """A default allow-all network ACL per VPC; for each (client, server) pair of VPC indexes,
    an app interface in the client's subnet `subnet_index` and a database interface in the
    server's, whose group admits the client's range on 5432; one server in twenty behind a
    custom ACL that lets out only HTTPS (the replies are dropped)."""
    subnets: dict[str, list[Subnet]] = {}
    for subnet in snap.subnets:
        subnets.setdefault(subnet.vpc_id, []).append(subnet)
    open_both = [
        NetworkAclEntry(100, False, "-1", "allow", "0.0.0.0/0"),
        NetworkAclEntry(100, True, "-1", "allow", "0.0.0.0/0"),
    ]
    defaults = {
        v.id: NetworkAcl(f"acl-{v.id[4:]}", v.account_id, v.region, v.id, True, [s.id for s in subnets.get(v.id, [])], open_both)
        for v in snap.vpcs
    }  # fmt: skip
    for n, (c, s) in enumerate(pairs):
        client, server = snap.vpcs[c], snap.vpcs[s]
        app, db = subnets[client.id][subnet_index], subnets[server.id][subnet_index]
        ip = {
            k: str(ipaddress.ip_network(x.cidr_block or "").network_address + 10)
            for k, x in (("app", app), ("db", db))
        }
        group = f"sg-db{n:06x}"
        snap.security_groups.append(
            SecurityGroup(group, server.account_id, server.region, server.id, "db", ingress=[SecurityGroupRule("tcp", 5432, 5432, cidrs=client.cidr_blocks[:1])], egress=[SecurityGroupRule("-1", cidrs=["0.0.0.0/0"])])
        )  # fmt: skip
        snap.network_interfaces += [
            NetworkInterface(f"eni-app{n:06x}", client.account_id, client.region, client.id, app.id, private_ips=[ip["app"]], security_group_ids=[f"sg-{client.id[4:]}"]),
            NetworkInterface(f"eni-db{n:06x}", server.account_id, server.region, server.id, db.id, private_ips=[ip["db"]], security_group_ids=[group]),
        ]  # fmt: skip
        if n % 20 == 7:
            defaults[server.id].subnet_ids.remove(db.id)
            snap.network_acls.append(
                NetworkAcl(f"acl-db{n:06x}", server.account_id, server.region, server.id, False, [db.id], [
                    NetworkAclEntry(100, False, "6", "allow", client.cidr_blocks[0], from_port=5432, to_port=5432),
                    NetworkAclEntry(100, True, "6", "allow", "0.0.0.0/0", from_port=443, to_port=443),
                ])
            )  # fmt: skip
    snap.network_acls += defaults.values()


def reach_figures(snapshot: Snapshot, queries: int, seed: int = 5) -> dict[str, float]:
    """`queries` reach answers on random app/database pairs (interfaces, or their subnets):
    the first with the topology and reach's index built, and the median of the rest."""
    from auditor.net import Topology
    from auditor.reach import REACHABLE, reach

    enis = {e.id: e for e in snapshot.network_interfaces}
    pairs = [
        (e.id, "eni-db" + e.id[7:])
        for e in snapshot.network_interfaces
        if e.id.startswith("eni-app")
    ]
    rnd = random.Random(seed)
    times, reachable = [], 0
    start = time.perf_counter()
    topo = Topology(snapshot)
    for k in range(queries):
        app, db = rnd.choice(pairs)
        src, dst = (
            (app, db) if k % 2 == 0 else (enis[app].subnet_id or "", enis[db].subnet_id or "")
        )
        reachable += reach(topo, src, dst, port=5432).verdict == REACHABLE
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return {
        "reach_first_s": times[0],
        "reach_median_s": statistics.median(times[1:] or times),
        "reach_reachable": reachable,
    }


ESTATES = {"peering": synthetic_snapshot, "hub": hub_snapshot}


def peak_rss_mb() -> float:
    """The process's peak resident set so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(
    size: int,
    estate: str = "peering",
    rules_only: bool = False,
    reach: int = 0,
    processes: int = 1,
) -> dict[str, float]:
    from auditor.report import build_report, render_html, render_json
    from auditor.rules import evaluate

    t0 = time.perf_counter()
    snapshot = ESTATES[estate](size)
    reach_figures_ = reach_figures(snapshot, reach) if reach else {}
    t1 = time.perf_counter()
    snapshot_rss = peak_rss_mb()
    result = evaluate(snapshot, processes=processes)
    t2 = time.perf_counter()
    rules_rss = peak_rss_mb()
    report = build_report(snapshot, result)
    json_text = "" if rules_only else render_json(report)
    t3 = time.perf_counter()
    html = "" if rules_only else render_html(report, snapshot)
    t4 = time.perf_counter()
    return {
        "vpcs": size,
        "route_tables": len(snapshot.route_tables),
        "peerings": len(snapshot.peerings),
        "hub_routes": sum(len(t.routes) for t in snapshot.transit_gateway_route_tables),
        "findings": len(result.findings),
        "build_s": t1 - t0,
        "rules_s": t2 - t1,
        "json_s": t3 - t2,
        "html_s": t4 - t3,
        "json_mb": len(json_text) / 1e6,
        "html_mb": len(html) / 1e6,
        "snapshot_rss_mb": snapshot_rss,
        "rules_rss_mb": rules_rss,
        "peak_rss_mb": peak_rss_mb(),
        # The rules' forked child (2,000+ VPCs with DEFAULT_PROCESSES > 1), 0 when none ran.
        "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        **reach_figures_,
    }


def main() -> None:
    from auditor.concurrency import DEFAULT_PROCESSES

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is shown")
    parser.add_argument("--estate", choices=sorted(ESTATES), default="peering")
    parser.add_argument("--rules-only", action="store_true", help="skip JSON and HTML rendering")
    parser.add_argument("--reach", type=int, default=0, help="time N reach queries too")
    parser.add_argument(
        "--processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help="as the CLI's --processes (default: its default); 2+ splits the rules of 2,000+ VPCs",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = measure(args.child, args.estate, args.rules_only, args.reach, args.processes)
        print(json.dumps(figures))
        return
    rows = []
    for size in args.sizes:
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--child", str(size), "--estate", args.estate]
                    + (["--rules-only"] if args.rules_only else [])
                    + ["--reach", str(args.reach), "--processes", str(args.processes)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(args.repeat)
        ]
        row = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        rows.append(row)
        print(
            f"{size:>6} VPCs  {int(row['route_tables']):>6} tables  {int(row['peerings']):>6} peerings  "
            f"{int(row['hub_routes']):>6} hub routes  "
            f"{int(row['findings']):>6} findings | rules {row['rules_s']:6.2f}s  "
            f"json {row['json_s']:5.2f}s ({row['json_mb']:5.1f} MB)  "
            f"html {row['html_s']:5.2f}s ({row['html_mb']:5.1f} MB) | peak RSS: snapshot "
            f"{row['snapshot_rss_mb']:5.0f} MB, +rules {row['rules_rss_mb']:5.0f} MB, "
            f"+render {row['peak_rss_mb']:5.0f} MB, rules' child {row['child_rss_mb']:5.0f} MB",
            flush=True,
        )
        if args.reach:
            print(
                f"{'':>6}       reach: first {row['reach_first_s'] * 1000:6.0f} ms (topology and "
                f"index built), median of the other {args.reach - 1} "
                f"{row['reach_median_s'] * 1000:6.1f} ms; {int(row['reach_reachable'])} of "
                f"{args.reach} reachable",
                flush=True,
            )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = (last["rules_s"] / first["rules_s"]) / (last["vpcs"] / first["vpcs"])
        print(
            f"rules time growth vs linear from {int(first['vpcs'])} to {int(last['vpcs'])} VPCs: {growth:.2f}x (1.00 = linear)"
        )


if __name__ == "__main__":
    main()
