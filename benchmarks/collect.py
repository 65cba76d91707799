"""Collection benchmark: the real CLI reads a synthetic organisation from a local moto server that
adds a fixed latency to every call, and the wall time is compared with the ideal for the calls made.

Run by hand (not a test):

    python benchmarks/collect.py                      # 10 accounts x 3 regions x 5 VPCs, 50 ms
    python benchmarks/collect.py --accounts 40 --regions 4 --vpcs 10 --latency 0.1 --repeat 3
    python benchmarks/collect.py --workers 8 --ec2-bucket 100,20   # also throttle as EC2 does

Separate processes, so that each one's CPU and memory are its own:

* a moto server (this file with --server-child), behind tests.faults.FaultServer: it sleeps
  `--latency` seconds before answering each call, counts the calls by account, region and
  action, and with --ec2-bucket answers RequestLimitExceeded when an account-region's token
  bucket is empty, as EC2 does;
* this process, which seeds the organisation: --accounts member accounts (moto creates each one
  when a role is assumed into it) x --regions regions x --vpcs VPCs, each VPC with two
  subnets, a public and a private route table, an internet gateway, every second one an S3
  gateway endpoint; the VPCs of an account-region peered in a chain, the first VPC of each
  account peered with the next account's, routes both ways, and one customer prefix list per
  account-region referenced by a security group; the first account owns a transit gateway in
  each region with its VPCs attached and two route tables (AWS RAM's calls are REST calls, which
  the server counts by service only and does not delay);
* the audit (this file with --audit-child): `vpc-audit --account ... --role-name ... --region
  ... --json ... -q` run in-process through the click entry point, timed from the call of
  `main`; "collect" is the time spent in the collector, the rest is rules and reports. Its
  collector forks its own --processes; their CPU is counted with the audit's.

The ideal is what the calls cost at the latency with `--workers` calls in flight:
max(total calls x latency / workers, longest chain of calls that must follow one another x
latency). The chain of an account-region is GetCallerIdentity, AssumeRole, then the
collector's rounds of calls, each round shared by up to REGION_FANOUT threads (the region's
service prefix lists and DescribeOrganization are read beside them).

moto is not AWS: every answer costs it a few milliseconds of CPU, one request at a time (the
GIL), and werkzeug's server closes the connection after each answer, so that every call
would connect anew. Neither is what AWS costs the audit's machine. So, once the estate is
seeded, the server replays moto's first answer to a repeated request (Replay; the warm-up run
fills it) and serves over connections kept open (ReplayFront); --moto-live turns both off. The
audit's own CPU (botocore: 2 to 4 ms per call here) can still be the limit before the latency
is. Each configuration is therefore also run at latency 0: that wall time ("floor") is what
this machine needs to serve and parse the calls at all; a ratio that the floor explains is
CPU, not scheduling. The timeline says when the first EC2 call went out: what comes before it
(credentials, roles, processes, clients) is the start of a run, which the ideal does not count,
so the run from that call on is also given against the ideal.

Changes to moto in the server process, none of which changes what the collector reads:
memoised look-ups that moto repeats on every request (the list of its own modules, a class's
method names); and, unless --moto-as-is, AWS's behaviour where moto differs, so that the call
counts are AWS's: DescribePrefixLists answers with each list's CIDRs (moto answers without,
so the collector would fetch them with GetManagedPrefixListEntries), an AWS-managed prefix
list has the same id in every account of a region (moto draws one per account, so each
account's S3 endpoint routes would reference a list the region's shared read did not see), and
DescribeVpcEndpointServices takes a filter's "Values" (moto fails on them).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import io
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROLE = "VpcAuditBenchRole"
BASE_KEY = "testing"  # static keys moto maps to its default account (not audited here)
ALL_REGIONS = [
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "us-west-2",
    "eu-central-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
    "eu-north-1",
    "ap-south-1",
    "us-east-2",
    "eu-west-2",
    "ap-southeast-1",
    "us-west-1",
    "eu-west-3",
    "ap-northeast-2",
    "ap-northeast-3",
]
# Calls per account-region that depend on the estate (reported apart from the fixed ones).
PER_RESOURCE = {
    "ec2:DescribeVpcAttribute": "2 per VPC",
    "ec2:DescribeVpcEndpointServicePermissions": (
        "1 per endpoint service owned that accepts connections without approval"
    ),
    "ec2:DescribeStaleSecurityGroups": (
        "1 per VPC whose group rules reference a group of an account outside the audit "
        "(1 if the API is not offered)"
    ),
    "ec2:GetManagedPrefixListEntries": "1 per referenced non-AWS prefix list",
    "ec2:DescribeVpcEndpointServices": "1 per account-region with endpoints (200 services a call)",
}
# Calls per route table of the transit gateways an account-region owns (the API takes one
# table), counted apart: they depend on the transit gateways, not on the VPCs.
PER_TGW_ROUTE_TABLE = {"ec2:SearchTransitGatewayRoutes"}
PER_REGION = {"ec2:DescribePrefixLists"}  # once per region in each collector process
RAM_CALLS = "ram:"  # RAM's REST calls, which the server counts without an action name
ORG_PROJECTION = (200, 17)  # accounts x regions for the projection
PROJECTION_LATENCY = 0.1


# --- the moto server process -----------------------------------------------------------------


def speed_up_moto(aws_prefix_lists: bool) -> None:
    """Memoise what moto recomputes per request; optionally answer as AWS does where moto
    differs (DescribePrefixLists with CIDRs, AWS-managed list ids, endpoint service filters)."""
    import functools

    import moto.backends
    import moto.core.responses
    import moto.core.utils

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    moto.core.responses.method_names_from_class = functools.cache(  # type: ignore[assignment]
        moto.core.utils.method_names_from_class
    )
    if aws_prefix_lists:
        from moto.ec2.models.managed_prefixes import ManagedPrefixList, ManagedPrefixListBackend

        def cidrs(self: Any) -> list[str]:
            latest = list(self.entries.values())[-1] if self.entries else []
            return [entry["Cidr"] for entry in latest]

        def aws_list(self: Any, name: str, address_family: str, entries: Any) -> None:
            """An AWS-managed list with the same id in every account of a region, as in AWS
            (moto draws a random id per account)."""
            plist = self.create_managed_prefix_list(
                address_family=address_family, entry=entries, prefix_list_name=name, owner_id="AWS"
            )
            del self.managed_prefix_lists[plist.id]
            digest = hashlib.sha256(f"{self.region_name}/{name}".encode()).hexdigest()
            plist.id = f"pl-{digest[:17]}"
            plist.prefix_list_arn = plist.arn(self.region_name, plist.owner_id)
            plist.version = None
            plist.max_entries = None
            self.managed_prefix_lists[plist.id] = plist

        ManagedPrefixList.cidrs = property(cidrs)  # type: ignore[attr-defined]
        ManagedPrefixListBackend._create_aws_managed_prefix_list = aws_list  # type: ignore[method-assign]

        from moto.ec2.models.vpcs import VPCBackend

        real_filter = VPCBackend._filter_endpoint_services

        def service_filter(names: Any, filters: list[dict[str, Any]], services: Any) -> Any:
            """The API's "Values" for a filter (moto reads "Value" and fails)."""
            filters = [{**f, "Value": f.get("Value", f.get("Values", []))} for f in filters]
            return real_filter(names, filters, services)

        VPCBackend._filter_endpoint_services = staticmethod(service_filter)  # type: ignore[assignment]


class Replay:
    """WSGI wrapper: once `on`, a request moto has answered before gets moto's first answer.

    The estate is frozen after seeding, so moto would answer the same request the same way
    again; replaying spares the machine moto's few milliseconds of CPU per call, which AWS
    would not cost the audit's machine. Latency, throttling and counting happen before this,
    in FaultServer's middleware, as for any call. Only successful answers are kept.
    """

    def __init__(self, app: Any) -> None:
        from tests.faults import CREDENTIAL_SCOPE  # the same (access key, region, service)

        self.scope = CREDENTIAL_SCOPE
        self.app = app
        self.on = False  # off while seeding: the estate still changes
        self.answers: dict[tuple[str, ...], tuple[str, list[tuple[str, str]], bytes]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self.on:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        scope = self.scope.search(environ.get("HTTP_AUTHORIZATION", ""))
        key = (
            *(scope.groups() if scope else ()),
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_X_AMZ_TARGET", ""),
            body.decode("utf-8", "replace"),
        )
        answer = self.answers.get(key)
        if answer is None:
            got: list[Any] = []
            chunks = self.app(environ, lambda status, headers, *_: got.extend((status, headers)))
            answer = (got[0], list(got[1]), b"".join(chunks))
            if answer[0].startswith("200"):
                self.answers[key] = answer
        start_response(answer[0], answer[1])
        return [answer[2]]


class ReplayFront(asyncio.Protocol):
    """The server the audit talks to: HTTP/1.1 over kept-alive connections, as AWS's endpoints
    are. A request already in Replay's cache is counted and answered here, after `latency`
    on the event loop's timer (no thread per call); anything else (seeding, the warm-up run,
    every call while a fault hook is set) goes through to FaultServer (its middleware's
    latency, faults and counts, then Replay and moto) on a thread.

    moto's werkzeug server closes the connection after each answer, and a threaded server
    in front of it (waitress, tried first) took about 0.7 ms of CPU per call: CPU that AWS
    does not take from the audit's machine, and that on 2 cores competes with the audit;
    this front takes 0.2 to 0.3 ms. Only for botocore's requests: Content-Length bodies, no
    chunked encoding, no pipelining.
    """

    def __init__(self, moto: Any, replay: Replay, behind: str) -> None:
        self.moto, self.replay = moto, replay
        self.behind = urllib.parse.urlsplit(behind).netloc
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return  # the rest of the body is still on its way
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            try:
                self.request(head[0], headers, body)
            except Exception as exc:  # never leave a caller waiting: it sees a reset, retries
                print(f"replay front: {type(exc).__name__}: {exc}", file=sys.stderr)
                self.transport.close()
                return

    def request(self, line: str, headers: dict[str, str], body: bytes) -> None:
        method, target, _ = line.split(" ", 2)
        path, _, query = target.partition("?")
        scope = self.replay.scope.search(headers.get("authorization", ""))
        key = (
            *(scope.groups() if scope else ()),
            path,
            query,
            headers.get("x-amz-target", ""),
            body.decode("utf-8", "replace"),
        )
        answer = self.replay.answers.get(key) if self.replay.on and scope else None
        loop = asyncio.get_running_loop()
        if answer is None or self.moto.faults is not None:
            future = loop.run_in_executor(None, self.forward, method, target, headers, body)
            future.add_done_callback(self.forwarded)
            return
        access_key, region, service = scope.groups()  # type: ignore[union-attr]
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = params.get("Action", [""])[0] or headers.get("x-amz-target", "").rpartition(".")[2]
        self.moto.count_call(access_key, region, service, action)
        loop.call_later(self.moto.latency, self.answered, answer)

    def forwarded(self, done: Any) -> None:
        if done.exception() is not None:  # the client sees a reset and retries, as with AWS
            print(f"replay front: {done.exception()!r}", file=sys.stderr)
            self.transport.close()
        else:
            self.send(*done.result())

    def answered(self, answer: tuple[str, list[tuple[str, str]], bytes]) -> None:
        self.moto.count_done()
        self.send(*answer)

    def send(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        if self.transport.is_closing():
            return
        skip = {"content-length", "connection", "transfer-encoding"}
        lines = [f"HTTP/1.1 {status}"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in skip]
        lines.append(f"Content-Length: {len(body)}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """The server behind's answer (moto's werkzeug server: one connection per request)."""
        connection = http.client.HTTPConnection(self.behind)
        try:
            connection.request(method, target, body=body, headers=headers)
            reply = connection.getresponse()
            return f"{reply.status} {reply.reason}", reply.getheaders(), reply.read()
        finally:
            connection.close()


def replay_front_url(moto: Any, replay: Replay, behind: str) -> str:
    """Start ReplayFront on its own event loop thread; returns its URL."""
    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(64, thread_name_prefix="forward"))
    server = loop.run_until_complete(
        loop.create_server(lambda: ReplayFront(moto, replay, behind), "127.0.0.1", 0)
    )
    threading.Thread(target=loop.run_forever, name="replay-front", daemon=True).start()
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


class Ec2Buckets:
    """EC2's request throttling as a fault hook: a token bucket per account and region."""

    def __init__(self, size: float, refill: float) -> None:
        self.size, self.refill = size, refill
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.throttled = 0
        self.lock = threading.Lock()

    def __call__(self, call: Any) -> Any:
        from tests.faults import Fault

        if call.service != "ec2":
            return None
        key = (call.account, call.region)
        with self.lock:
            now = time.monotonic()
            tokens, stamp = self.buckets.get(key, (self.size, now))
            tokens = min(self.size, tokens + (now - stamp) * self.refill)
            if tokens < 1:
                self.buckets[key] = (tokens, now)
                self.throttled += 1
                return Fault.throttle()
            self.buckets[key] = (tokens - 1, now)
        return None

    def reset(self) -> None:
        with self.lock:
            self.buckets.clear()
            self.throttled = 0


def server_child(args: argparse.Namespace) -> None:
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    speed_up_moto(aws_prefix_lists=not args.moto_as_is)
    from tests.faults import FaultServer

    buckets = Ec2Buckets(*args.ec2_bucket) if args.ec2_bucket else None
    server = FaultServer(faults=buckets).start()
    replay = server._app = Replay(server._app)
    url = server.url
    if not args.moto_live:
        url = replay_front_url(server, replay, server.url)
    print(json.dumps({"url": url}), flush=True)
    cpu = time.process_time()
    # When each EC2 call arrived and how many calls were then in flight (itself included).
    ec2_calls: list[tuple[float, int]] = []
    count_call = server.count_call

    def timed_count_call(
        access_key: str, region: str, service: str, action: str, in_flight: bool = True
    ) -> int:
        number = count_call(access_key, region, service, action, in_flight)
        if service == "ec2":
            ec2_calls.append((time.time(), server._in_flight))
        return number

    server.count_call = timed_count_call  # type: ignore[method-assign]
    for line in sys.stdin:
        command = json.loads(line)
        reply: dict[str, Any] = {}
        if command["op"] == "latency":
            server.latency = command["seconds"]
        elif command["op"] == "replay":
            replay.on = command["on"]
        elif command["op"] == "clear":
            server.clear_calls()
            ec2_calls.clear()
            if buckets:
                buckets.reset()
            cpu = time.process_time()
        elif command["op"] == "stats":
            reply = {
                "places": [[*place, n] for place, n in server.calls_by_place.items()],
                "peak_in_flight": server.peak_in_flight,
                "cpu": time.process_time() - cpu,
                "throttled": buckets.throttled if buckets else 0,
                "ec2_calls": ec2_calls,
            }
        print(json.dumps(reply), flush=True)
    server.stop()


class Server:
    """The moto server child, driven over its stdin/stdout one JSON line at a time."""

    def __init__(self, ec2_bucket: list[float] | None, moto_as_is: bool) -> None:
        cmd = [sys.executable, __file__, "--server-child"]
        if ec2_bucket:
            cmd += ["--ec2-bucket", ",".join(str(x) for x in ec2_bucket)]
        if moto_as_is:
            cmd.append("--moto-as-is")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self._read()["url"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the moto server child exited")
        return dict(json.loads(line))

    def ask(self, op: str, **kwargs: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# --- seeding the organisation ----------------------------------------------------------------


def account_ids(count: int) -> list[str]:
    return [f"{100000000001 + i:012d}" for i in range(count)]


def seed(url: str, accounts: list[str], regions: list[str], vpcs: int) -> int:
    """Build the organisation; returns the number of VPCs made."""
    import boto3

    base = boto3.Session(aws_access_key_id=BASE_KEY, aws_secret_access_key=BASE_KEY)
    sts = base.client("sts", region_name="us-east-1", endpoint_url=url)
    sessions = {}
    for account in accounts:
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="seed"
        )["Credentials"]
        sessions[account] = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    lock = threading.Lock()

    def ec2(account: str, region: str) -> Any:
        with lock:  # sessions are not thread-safe while making clients
            return sessions[account].client("ec2", region_name=region, endpoint_url=url)

    def cidr(account: str, i: int) -> str:
        """VPC i of an account: a /16 of its own, so peerings between accounts do not overlap."""
        return f"10.{(accounts.index(account) * vpcs + i) % 256}.0.0/16"

    def account_region(place: tuple[str, str]) -> list[tuple[str, str]]:
        """VPCs, subnets, tables, gateways, an S3 endpoint on every second VPC, a chain of
        peerings, and a referenced customer prefix list; returns (vpc id, private table)."""
        account, region = place
        client = ec2(account, region)
        made = []
        for i in range(vpcs):
            block = cidr(account, i)
            vpc = client.create_vpc(CidrBlock=block)["Vpc"]["VpcId"]
            public = client.create_subnet(VpcId=vpc, CidrBlock=block.replace("0.0/16", "0.0/24"))
            private = client.create_subnet(VpcId=vpc, CidrBlock=block.replace("0.0/16", "1.0/24"))
            igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
            tables = []
            for subnet in (public, private):
                table = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
                client.associate_route_table(
                    RouteTableId=table, SubnetId=subnet["Subnet"]["SubnetId"]
                )
                tables.append(table)
            client.create_route(
                RouteTableId=tables[0], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw
            )
            if i % 2 == 0:
                client.create_vpc_endpoint(
                    VpcEndpointType="Gateway",
                    VpcId=vpc,
                    ServiceName=f"com.amazonaws.{region}.s3",
                    RouteTableIds=[tables[1]],
                )
            made.append((vpc, tables[1]))
        for i in range(vpcs - 1):
            peer(client, made[i], made[i + 1], cidr(account, i), cidr(account, i + 1))
        if not made:
            return made  # an account-region with only moto's default VPC
        if account == accounts[0]:
            hub(client, [vpc for vpc, _ in made])
        plist = client.create_managed_prefix_list(
            PrefixListName="office",
            AddressFamily="IPv4",
            MaxEntries=5,
            Entries=[{"Cidr": "198.51.100.0/24"}],
        )["PrefixList"]["PrefixListId"]
        group = client.create_security_group(
            GroupName="office", Description="office", VpcId=made[0][0]
        )["GroupId"]
        client.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "PrefixListIds": [{"PrefixListId": plist}],
                }
            ],
        )
        return made

    def hub(client: Any, vpc_ids: list[str]) -> None:
        """A transit gateway (moto gives it a default route table) with every VPC attached,
        and a second route table with a static route: the network account's hub."""
        tgw = client.create_transit_gateway(Description="hub")["TransitGateway"]["TransitGatewayId"]
        attachments = []
        for vpc in vpc_ids:
            subnet = client.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
            attachments.append(
                client.create_transit_gateway_vpc_attachment(
                    TransitGatewayId=tgw,
                    VpcId=vpc,
                    SubnetIds=[subnet["Subnets"][0]["SubnetId"]],
                )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
            )
        table = client.create_transit_gateway_route_table(TransitGatewayId=tgw)[
            "TransitGatewayRouteTable"
        ]["TransitGatewayRouteTableId"]
        client.create_transit_gateway_route(
            TransitGatewayRouteTableId=table,
            DestinationCidrBlock="0.0.0.0/0",
            TransitGatewayAttachmentId=attachments[0],
        )

    def peer(
        client: Any,
        side: tuple[str, str],
        other: tuple[str, str],
        cidr: str,
        other_cidr: str,
        accepter: Any = None,
        owner: str | None = None,
    ) -> None:
        kwargs = {"PeerOwnerId": owner} if owner else {}
        pcx = client.create_vpc_peering_connection(VpcId=side[0], PeerVpcId=other[0], **kwargs)[
            "VpcPeeringConnection"
        ]["VpcPeeringConnectionId"]
        (accepter or client).accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
        client.create_route(
            RouteTableId=side[1], DestinationCidrBlock=other_cidr, VpcPeeringConnectionId=pcx
        )
        (accepter or client).create_route(
            RouteTableId=other[1], DestinationCidrBlock=cidr, VpcPeeringConnectionId=pcx
        )

    places = [(a, r) for a in accounts for r in regions]
    with ThreadPoolExecutor(4) as pool:
        built = dict(zip(places, pool.map(account_region, places), strict=True))
    # The first VPC of each account peers with the next account's, region by region.
    for region in regions if vpcs else ():
        for mine, theirs in itertools.pairwise(accounts):
            peer(
                ec2(mine, region),
                built[mine, region][0],
                built[theirs, region][0],
                cidr(mine, 0),
                cidr(theirs, 0),
                accepter=ec2(theirs, region),
                owner=theirs,
            )
    return len(places) * vpcs


# --- the audit process -------------------------------------------------------------------------


def audit_child(args: argparse.Namespace, cli_args: list[str]) -> None:
    import auditor.cli as cli

    timing: dict[str, float] = {}
    real_collect = cli.collect

    def timed_collect(*a: Any, **k: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time() + children_cpu()
        timing["collect_started"] = time.time()  # the server's clock, for the timeline
        try:
            return real_collect(*a, **k)
        finally:
            timing["collect_wall"] = time.perf_counter() - wall
            timing["collect_cpu"] = time.process_time() + children_cpu() - cpu
            timing["collect_rss_mb"] = peak_rss_mb()
            timing["worker_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    cli.collect = timed_collect  # type: ignore[assignment]
    started = time.perf_counter()
    code = cli.main(cli_args, standalone_mode=False)
    timing["cli_wall"] = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        **timing,
        "exit_code": code,
        "cpu_total": usage.ru_utime + usage.ru_stime + children_cpu(),
        "peak_rss_mb": peak_rss_mb(),
    }
    Path(args.out).write_text(json.dumps(out))


def children_cpu() -> float:
    """CPU seconds of the collector's worker processes (--processes), once they have ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux carries ru_maxrss over exec from the forked parent (here
    the seeding process), so read the new image's own high-water mark where there is one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_audit(
    server: Server,
    accounts: list[str],
    regions: list[str],
    workers: int,
    processes: int,
    latency: float,
) -> dict[str, Any]:
    """One audit at `latency`: the audit process's figures and the server's counts."""
    server.ask("latency", seconds=latency)
    server.ask("clear")
    with tempfile.TemporaryDirectory() as tmp:
        cli_args = ["--role-name", ROLE, "--workers", str(workers), "--processes", str(processes)]
        cli_args += ["-q", "--fail-on", "none"]
        for account in accounts:
            cli_args += ["--account", account]
        for region in regions:
            cli_args += ["--region", region]
        cli_args += ["--json", f"{tmp}/report.json"]
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": server.url,
            "AWS_ACCESS_KEY_ID": BASE_KEY,
            "AWS_SECRET_ACCESS_KEY": BASE_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            env.pop(name, None)
        out = f"{tmp}/figures.json"
        subprocess.run(
            [sys.executable, __file__, "--audit-child", "--out", out, "--", *cli_args],
            env=env,
            check=True,
        )
        figures: dict[str, Any] = json.loads(Path(out).read_text())
        report = json.loads(Path(f"{tmp}/report.json").read_text())
    figures["coverage"] = report["summary"]["coverage"]
    figures["server"] = server.ask("stats")
    return figures


# --- figures -------------------------------------------------------------------------------------


@dataclass
class Calls:
    total: int
    by_action: Counter[str]
    per_place: dict[tuple[str, str], Counter[str]]  # EC2 calls of each audited account-region

    @classmethod
    def of(cls, places: list[list[Any]], audited: set[tuple[str, str]]) -> Calls:
        by_action: Counter[str] = Counter()
        per_place: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for account, region, action, n in places:
            by_action[action] += n
            if (account, region) in audited and action.startswith("ec2:"):
                per_place[account, region][action] += n
        return cls(sum(by_action.values()), by_action, dict(per_place))

    def place_totals(self) -> list[int]:
        return sorted(sum(c.values()) for c in self.per_place.values())

    def chain(self, fanout: int) -> int:
        """The longest chain of calls that must follow one another, with `fanout` threads per
        account-region round: see the module docstring."""
        longest = 0
        for counts in self.per_place.values():
            longest = max(longest, self.rounds(counts, fanout))
        return 2 + longest  # GetCallerIdentity, AssumeRole

    def rate_bound(self) -> float:
        """Seconds the busiest account-region needs under the collector's own request rate."""
        from auditor.collect.sessions import EC2_REQUEST_BURST, EC2_REQUEST_RATE

        busiest = max(self.place_totals(), default=0)
        return max(0.0, busiest - EC2_REQUEST_BURST) / EC2_REQUEST_RATE

    @staticmethod
    def rounds(counts: Counter[str], fanout: int) -> int:
        """Rounds of calls one account-region needs with `fanout` threads (see read_region)."""
        dependent = set(PER_RESOURCE) | PER_TGW_ROUTE_TABLE | PER_REGION
        fixed = sum(n for a, n in counts.items() if a not in dependent)
        stale = counts["ec2:DescribeStaleSecurityGroups"]
        second = (
            counts["ec2:DescribeVpcAttribute"]
            + counts["ec2:DescribeVpcEndpointServicePermissions"]
            + min(stale, 1)
            + counts["ec2:GetManagedPrefixListEntries"]
            + counts["ec2:DescribeVpcEndpointServices"]
            + sum(counts[a] for a in PER_TGW_ROUTE_TABLE)
        )
        last = max(stale - 1, 0)
        return sum(math.ceil(n / fanout) for n in (fixed, second, last))


def timeline(runs: list[dict[str, Any]], workers: int) -> str:
    """When the first EC2 call went out, from when all `workers` were busy, and when the last
    went out, in seconds from the start of the collection: the start of a run (credentials,
    roles, processes, clients) is time the ideal does not count."""
    first, busy, last = [], [], []
    for run in runs:
        started, calls = run["collect_started"], run["server"]["ec2_calls"]
        if calls:
            first.append(calls[0][0] - started)
            last.append(calls[-1][0] - started)
            busy += [next((t - started for t, n in calls if n >= workers), math.inf)]
    if not first:
        return "no EC2 call"
    all_busy = median(busy)
    return (
        f"first EC2 call at {median(first):.2f} s, "
        + (
            f"all {workers} workers busy from {all_busy:.2f} s"
            if all_busy < math.inf
            else f"never all {workers} workers busy"
        )
        + f", last EC2 call sent at {median(last):.2f} s"
        + f", collection done at {median([r['collect_wall'] for r in runs]):.2f} s"
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def ideal(total: int, chain: int, latency: float, workers: int, rate_bound: float = 0.0) -> float:
    return max(total * latency / workers, chain * latency, rate_bound)


def report(
    args: argparse.Namespace, runs: list[dict[str, Any]], floors: list[dict[str, Any]]
) -> dict[str, Any]:
    from auditor.collect import DEFAULT_WORKERS, REGION_FANOUT

    accounts = account_ids(args.accounts)
    regions = ALL_REGIONS[: args.regions]
    audited = {(a, r) for a in accounts for r in regions}
    calls = [Calls.of(run["server"]["places"], audited) for run in runs]
    typical = calls[len(calls) // 2]
    if len({c.total for c in calls}) > 1:
        print(f"note: call counts varied between runs: {sorted(c.total for c in calls)}")
    workers, latency = args.workers, args.latency
    chain = typical.chain(REGION_FANOUT)
    rate_bound = typical.rate_bound()
    best = ideal(typical.total, chain, latency, workers, rate_bound)
    wall = median([r["collect_wall"] for r in runs])
    floor = median([r["collect_wall"] for r in floors]) if floors else None
    totals = typical.place_totals()
    n_places = len(typical.per_place)
    fixed = sorted(
        {a for c in typical.per_place.values() for a in c}
        - set(PER_RESOURCE)
        - PER_TGW_ROUTE_TABLE
        - PER_REGION
    )
    cpu = median([r["collect_cpu"] for r in runs])
    rss = median([r["peak_rss_mb"] for r in runs])
    collect_rss = median([r["collect_rss_mb"] for r in runs])
    worker_rss = median([r["worker_rss_mb"] for r in runs])
    server_cpu = median([r["server"]["cpu"] for r in runs]) / typical.total
    assume_role = typical.by_action["sts:AssumeRole"]
    ms = latency * 1000

    print(
        f"\n== {args.accounts} accounts x {args.regions} regions x {args.vpcs} VPCs "
        f"({n_places} account-regions), latency {ms:.0f} ms, {workers} workers in "
        f"{args.processes} process(es), fan-out "
        f"{REGION_FANOUT}, median of {len(runs)} runs"
    )
    terms = [
        f"{typical.total} calls x {ms:.0f} ms / {workers} = {typical.total * latency / workers:.2f} s",
        f"chain {chain} x {ms:.0f} ms = {chain * latency:.2f} s",
    ]
    if rate_bound:
        terms.append(f"own rate cap {rate_bound:.2f} s")
    print(
        f"wall (collect): {wall:.2f} s, whole CLI {median([r['cli_wall'] for r in runs]):.2f} s"
        f" | ideal {best:.2f} s = max({', '.join(terms)}) | ratio {wall / max(best, 1e-9):.2f}"
    )
    if floor is not None:
        print(
            f"floor (same audit at latency 0: moto + botocore CPU on this machine): {floor:.2f} s"
            f" | ratio to max(ideal, floor): {wall / max(best, floor):.2f}"
        )
    print(
        f"EC2 calls per account-region: min {totals[0]}, median {median(totals):g}, max "
        f"{totals[-1]} (sequential chain {2 + max(Calls.rounds(c, 1) for c in typical.per_place.values())});"
        f" fixed: {len(fixed)} ({', '.join(a.split(':')[1] for a in fixed)})"
    )
    for action, why in PER_RESOURCE.items():
        counts = [c[action] for c in typical.per_place.values()]
        if any(counts):
            print(
                f"  {action.split(':')[1]}: {sum(counts)} in all, per account-region "
                f"min {min(counts)} median {median(counts):g} max {max(counts)} ({why})"
            )
    for action in sorted(PER_TGW_ROUTE_TABLE):
        counts = [c[action] for c in typical.per_place.values() if c[action]]
        if counts:
            print(
                f"  {action.split(':')[1]}: {sum(counts)} in all, in {len(counts)} account-regions"
                f" owning transit gateways, max {max(counts)} (1 per route table of their own)"
            )
    for action in sorted(PER_REGION):
        print(
            f"  {action.split(':')[1]}: {typical.by_action[action]} in all (once per region per process)"
        )
    others = {a: n for a, n in typical.by_action.items() if not a.startswith("ec2:")}
    ram = others.pop(RAM_CALLS, 0)
    print(
        "  per account and per run: "
        + ", ".join(f"{a.split(':')[1]} {n}" for a, n in sorted(others.items()))
        + f" (AssumeRole {'=' if assume_role == args.accounts else '!='} {args.accounts} accounts)"
    )
    if ram:
        print(
            f"  AWS RAM GetResourceShareAssociations: {ram} in all (1 per account-region owning a"
            " transit gateway, 2 where it shares any; REST calls: counted, never delayed)"
        )
    print(
        f"audit: peak RSS {collect_rss:.0f} MB collecting, {rss:.0f} MB in all"
        + (f", each worker process at most {worker_rss:.0f} MB" if worker_rss else "")
        + f", collect CPU (all processes) {cpu:.2f} s = "
        f"{cpu / typical.total * 1000:.1f} ms per call, {cpu / n_places * 1000:.0f} ms per "
        f"account-region | moto: {server_cpu * 1000:.1f} ms CPU per call | peak calls in flight "
        f"{max(r['server']['peak_in_flight'] for r in runs)}"
        + (
            f" | throttled by the EC2 buckets: {[r['server']['throttled'] for r in runs]}"
            if args.ec2_bucket
            else ""
        )
    )
    print("timeline of the collection (medians): " + timeline(runs, workers))
    starts = [
        r["server"]["ec2_calls"][0][0] - r["collect_started"]
        for r in runs
        if r["server"]["ec2_calls"]
    ]
    if starts:
        start = median(starts)
        print(
            f"from the first EC2 call on: {wall - start:.2f} s, {(wall - start) / best:.2f} x the "
            f"ideal (the {start:.2f} s before it, the run's start, is time the ideal does not count)"
        )
    gaps = [r["coverage"]["error"] for r in runs]
    if any(gaps):
        print(f"COVERAGE GAPS in the runs: {gaps}")

    # Projection: an organisation of 200 accounts x 17 regions at 100 ms per call.
    n_accounts, n_regions = ORG_PROJECTION
    places = n_accounts * n_regions
    per_place = median(totals)
    per_account = 2  # AssumeRole, DescribeRegions (every enabled region, no --region)
    org_calls = places * per_place + n_accounts * per_account + n_regions + 2
    projection = {}
    for w in sorted({workers, DEFAULT_WORKERS}):
        latency_bound = ideal(int(org_calls), chain + 1, PROJECTION_LATENCY, w, rate_bound)
        # The audit's CPU, spread over its processes (as many cores as there are processes).
        cpu_bound = places * cpu / n_places / min(args.processes, os.cpu_count() or 1)
        projection[w] = max(latency_bound, cpu_bound)
        print(
            f"projection: {n_accounts} accounts x {n_regions} regions = {places:,} "
            f"account-regions x {per_place:g} calls ({org_calls:,.0f} calls) at "
            f"{PROJECTION_LATENCY * 1000:.0f} ms, {w} workers: latency-bound "
            f"{latency_bound / 60:.1f} min, audit-CPU-bound {cpu_bound / 60:.1f} min "
            f"-> ~{projection[w] / 60:.1f} min"
        )
    return {
        "config": f"{args.accounts}x{args.regions}x{args.vpcs}",
        "latency_ms": ms,
        "workers": workers,
        "processes": args.processes,
        "wall": round(wall, 2),
        "ideal": round(best, 2),
        "ratio": round(wall / max(best, 1e-9), 2),
        "floor": round(floor, 2) if floor is not None else None,
        "calls_per_account_region": [totals[0], median(totals), totals[-1]],
        "assume_role": assume_role,
        "peak_rss_mb": round(rss),
        "projection_min": {w: round(t / 60, 1) for w, t in projection.items()},
    }


@contextmanager
def server_for(args: argparse.Namespace) -> Iterator[Server]:
    server = Server(args.ec2_bucket, args.moto_as_is)
    try:
        yield server
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--regions", type=int, default=3, choices=range(1, len(ALL_REGIONS) + 1))
    parser.add_argument(
        "--vpcs", type=int, default=5, help="VPCs per account-region besides the default one"
    )
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every call")
    parser.add_argument("--workers", type=int, help="--workers for the audit (default: its own)")
    parser.add_argument(
        "--processes", type=int, help="--processes for the audit (default: its own, two per core)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is shown")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the latency-0 runs that measure the floor"
    )
    parser.add_argument(
        "--ec2-bucket",
        type=lambda s: [float(x) for x in s.split(",")],
        metavar="SIZE,REFILL",
        help="throttle each account-region's EC2 calls with a token bucket, e.g. 100,20",
    )
    parser.add_argument(
        "--moto-live",
        action="store_true",
        help="let moto answer every call through werkzeug's server, one connection per call "
        "(default: replay moto's first answer, see Replay, over kept-alive connections)",
    )
    parser.add_argument("--summary", metavar="FILE", help="append a JSON line of the figures")
    parser.add_argument("--moto-as-is", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--audit-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    rest: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, rest = argv[:at], argv[at + 1 :]
    args = parser.parse_args(argv)
    if args.server_child:
        server_child(args)
        return
    if args.audit_child:
        audit_child(args, rest)
        return
    from auditor.collect import DEFAULT_WORKERS
    from auditor.collect.processes import DEFAULT_PROCESSES

    args.workers = args.workers or DEFAULT_WORKERS
    args.processes = args.processes or DEFAULT_PROCESSES
    accounts = account_ids(args.accounts)
    regions = ALL_REGIONS[: args.regions]
    with server_for(args) as server:
        started = time.perf_counter()
        made = seed(server.url, accounts, regions, args.vpcs)
        print(f"seeded {made} VPCs in {time.perf_counter() - started:.0f} s", flush=True)
        server.ask("replay", on=not args.moto_live)
        run_audit(
            server, accounts, regions, args.workers, args.processes, args.latency
        )  # warm-up, not counted
        runs = [
            run_audit(server, accounts, regions, args.workers, args.processes, args.latency)
            for _ in range(args.repeat)
        ]
        floors = (
            []
            if args.no_floor
            else [
                run_audit(server, accounts, regions, args.workers, args.processes, 0.0)
                for _ in range(max(1, args.repeat // 2))
            ]
        )
    summary = report(args, runs, floors)
    if args.summary:
        with open(args.summary, "a") as out:
            out.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
