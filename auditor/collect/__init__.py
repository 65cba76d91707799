"""Collect stage: AWS -> Snapshot.

The accounts are dealt out to `processes` forked processes (one by default; two per core from
the CLI: processes.py), each with its share of the `workers` threads. In each process one pool
of threads does everything: it opens its accounts (one AssumeRole each), reads each region's
AWS service prefix lists once, then reads the account-regions, one account-region per thread,
in an order that spreads neighbouring jobs over different accounts and regions. A thread that
finds no account-region left to start helps one still being read with its independent calls
(see fanout.Fanout), so the last account-regions of a run, or a run of a few large ones, finish
sooner; at most `workers` calls are ever in flight. A failure anywhere becomes a Coverage
record for that account-region and the run goes on; collectors never judge what they read.

`--shard INDEX/COUNT` keeps a fixed share of the (account, region) jobs; merge.merge_snapshots
combines the shards' snapshots with the same merge that combines the account-regions of a run.

This module runs a run (Request, collect, the per-account job); fanout.py holds the thread and
batch machinery, merge.py the merges.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.collect import ec2 as ec2_reader
from auditor.collect.fanout import Fanout, interleave, shard_of, thread_pool
from auditor.collect.merge import merge_views
from auditor.collect.processes import can_fork, read_in_processes
from auditor.collect.sessions import (
    AWS_FAILURES,
    DEFAULT_ORG_ROLE,
    Identity,
    assume_role_session,
    base_session,
    base_sts,
    client,
    enabled_regions,
    identify,
    limit_rate,
    one_line,
    org_accounts,
    organization_id,
    preload_model,
)
from auditor.concurrency import DEFAULT_WORKERS as DEFAULT_WORKERS
from auditor.errors import InputError
from auditor.model import Coverage, CoverageNote, PrefixList, Scope, Shard, Snapshot

if TYPE_CHECKING:
    import boto3

log = logging.getLogger(__name__)

# Most threads that may read one account-region at once.
REGION_FANOUT = 4
ALL_REGIONS = "*"
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Request:
    """What the user asked to audit (the CLI's options, without the CLI)."""

    profile: str | None = None
    regions: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    org: bool = False
    role_name: str | None = None
    external_id: str | None = None
    workers: int = DEFAULT_WORKERS
    processes: int = 1
    shard: Shard | None = None
    cost: bool = True  # what NAT gateways processed (CloudWatch); --no-cost skips the call


@dataclass
class _Account:
    account_id: str
    session: boto3.Session | None = None
    regions: list[str] = field(default_factory=list)
    error: str | None = None
    # Each region's EC2 client while in use, with how many use it.
    _clients: dict[str, list[Any]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @contextmanager
    def ec2(self, region: str) -> Iterator[Any]:
        """The account-region's EC2 client, one for all who read the account-region at once
        (its own read and the region's service lists): each client costs CPU to make, and
        the account-region's calls keep to one request rate. Dropped once no one uses it:
        thousands would add up."""
        assert self.session is not None
        with self._lock:
            if region not in self._clients:
                self._clients[region] = [limit_rate(client(self.session, "ec2", region)), 0]
            entry = self._clients[region]
            entry[1] += 1
        try:
            yield entry[0]
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._clients[region]

    def ram(self, region: str) -> Any:
        """The account-region's AWS RAM client, made when asked: only an account-region that
        owns a transit gateway reads RAM (two calls), so it is not kept."""
        assert self.session is not None
        return client(self.session, "ram", region)

    def cloudwatch(self, region: str) -> Any:
        """The account-region's CloudWatch client, made when asked: only an account-region with
        a NAT gateway reads its metrics (one call)."""
        assert self.session is not None
        return client(self.session, "cloudwatch", region)


def collect(request: Request, progress: Progress | None = None) -> Snapshot:
    if request.role_name and not (request.accounts or request.org):
        raise InputError("--role-name needs --account or --org")
    if request.org and request.accounts:
        raise InputError("use either --org or --account, not both")
    shard = request.shard
    if shard is not None and not 0 <= shard.index < shard.count:
        raise InputError(f"--shard {shard}: the index must be from 0 to {shard.count - 1}")
    base = base_session(request.profile)
    # One STS client for the identity and every account's AssumeRole, shared by all threads
    # (and inherited by the collector processes): clients are costly to make.
    sts = base_sts(base, connections=request.workers)
    # EC2's model (most of the CPU of a run's start) is parsed while GetCallerIdentity is out,
    # once for every account-region's client and every forked collector process.
    identity = identify(base, sts)
    preload_model(base, "ec2")  # once, before the processes fork: each would parse it again
    if request.org:
        account_ids = org_accounts(base, identity)
    elif request.accounts:
        account_ids = sorted(set(request.accounts))
    else:
        account_ids = [identity.account_id]
    target = Target(base, identity, request, sts, frozenset(account_ids))
    processes = min(request.processes, len(account_ids), request.workers)
    if processes <= 1 or not can_fork():
        parts = [target.read(account_ids, max(1, request.workers), True, progress)]
    else:
        parts = read_in_processes(target, account_ids, processes, request.workers, progress)
    # In account-region order, so that the merge fills the same way however the accounts were
    # shared out among processes.
    views = sorted(
        (view for part in parts for view in part.views),
        key=lambda v: (v.coverage[0].account_id, v.coverage[0].region),
    )
    snapshot = merge_views(views)
    snapshot.coverage_notes = sorted(
        snapshot.coverage_notes + [n for part in parts for n in part.notes],
        key=lambda n: (n.account_id, n.region, n.subject),
    )
    snapshot.tool_version = __version__
    snapshot.collected_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    snapshot.scope = Scope(
        partition=identity.partition,
        accounts=account_ids,
        regions=sorted({r for part in parts for r in part.regions} | set(request.regions)),
        organization_id=parts[0].organization_id,  # the first share asks
        organization_accounts=account_ids if request.org else [],
    )
    coverage = [c for part in parts for c in part.coverage]
    snapshot.coverage = sorted(coverage, key=lambda c: (c.account_id, c.region))
    snapshot.shard = shard
    return snapshot


@dataclass
class Part:
    """What one share of the accounts gave: the views of the account-regions read, every
    account-region's coverage, the regions the accounts have, and (from the share that asked)
    the organisation's id, or a note that it could not be read."""

    views: list[Snapshot]
    coverage: list[Coverage]
    regions: list[str]
    organization_id: str | None = None
    notes: list[CoverageNote] = field(default_factory=list)


@dataclass
class Target:
    """The base credentials, the request and every account it audits, shared by every share
    of the accounts."""

    base: boto3.Session
    identity: Identity
    request: Request
    sts: Any
    audited: frozenset[str] = frozenset()

    def read(
        self, account_ids: Sequence[str], workers: int, ask_org: bool, progress: Progress | None
    ) -> Part:
        """Read these accounts with a pool of `workers` threads; `ask_org`: also read the
        organisation's id (one share of a run asks)."""
        base, identity, request, shard = self.base, self.identity, self.request, self.request.shard
        role_name = request.role_name or DEFAULT_ORG_ROLE

        def mine(account_id: str, region: str) -> bool:
            return shard is None or shard_of(account_id, region, shard.count) == shard.index

        def open_account(account_id: str) -> _Account:
            acct = _Account(account_id)
            try:
                if account_id == identity.account_id:
                    acct.session = base
                else:
                    acct.session = assume_role_session(
                        base,
                        request.profile,
                        identity,
                        account_id,
                        role_name,
                        request.external_id,
                        self.sts,
                    )
                acct.regions = list(request.regions) or enabled_regions(acct.session, identity)
            except AWS_FAILURES as exc:
                acct.error = one_line(exc)
            return acct

        with thread_pool(workers) as pool:
            # Asked while the accounts open, so it never waits at the end of a run.
            organization = pool.submit(organization_id, base, identity) if ask_org else None
            # A shard opens every account too: it needs each one's regions to know its share.
            accounts = list(pool.map(open_account, account_ids))
            jobs = [(a, r) for a, r in interleave(accounts) if mine(a.account_id, r)]
            coverage = [
                Coverage(a.account_id, r, "error", a.error)
                for a in accounts
                if a.error
                for r in (request.regions or (ALL_REGIONS,))
                if mine(a.account_id, r)
            ]
            total, done, failed = len(jobs) + len(coverage), len(coverage), len(coverage)
            if progress:
                progress(done, total, failed)
            service_lists = read_service_lists(pool, accounts, sorted({r for _, r in jobs}))
            fanout = Fanout(pool, REGION_FANOUT)
            views: list[Snapshot] = []
            futures = [
                pool.submit(_read, a, r, fanout, service_lists.get(r), self.audited, request.cost)
                for a, r in jobs
            ]
            for (acct, region), future in zip(jobs, futures, strict=True):
                view, error = future.result()
                done += 1
                if view is None:
                    failed += 1
                    coverage.append(Coverage(acct.account_id, region, "error", error))
                    log.info("%s/%s: not audited: %s", acct.account_id, region, error)
                else:
                    coverage.append(Coverage(acct.account_id, region, "ok"))
                    views.append(view)
                    log.info("%s/%s: %d VPCs", acct.account_id, region, len(view.vpcs))
                if progress:
                    progress(done, total, failed)
            org_id, org_note = organization.result() if organization else (None, None)
        regions = sorted({r for a in accounts for r in a.regions})
        return Part(views, coverage, regions, org_id, [org_note] if org_note else [])


def read_service_lists(
    pool: Executor, accounts: Sequence[_Account], regions: Sequence[str]
) -> dict[str, Callable[[], list[PrefixList] | None]]:
    """Each region's AWS service prefix lists, read once through the first account (by id)
    that has the region; for each region, a call that waits for that read. It gives None when
    the read failed: the region's account-regions then read the lists themselves.

    Submitted before any account-region, so these reads start first and an account-region
    that waits for one never waits for a read still queued behind it.
    """
    first: dict[str, _Account] = {}
    for acct in sorted(accounts, key=lambda a: a.account_id):
        for region in acct.regions if acct.session else ():
            first.setdefault(region, acct)

    def read(region: str) -> list[PrefixList] | None:
        acct = first[region]
        try:
            with acct.ec2(region) as ec2:
                return ec2_reader.aws_service_lists(ec2, region)
        except AWS_FAILURES as exc:
            log.info("%s: service prefix lists not read: %s", region, one_line(exc))
            return None

    return {region: pool.submit(read, region).result for region in regions}


def _read(
    acct: _Account,
    region: str,
    fanout: Fanout,
    service_lists: Callable[[], list[PrefixList] | None] | None,
    audited: frozenset[str],
    cost: bool = True,
) -> tuple[Snapshot | None, str | None]:
    try:
        with acct.ec2(region) as ec2:
            view = ec2_reader.read_region(
                ec2,
                acct.account_id,
                region,
                run=fanout,
                service_lists=service_lists,
                audited=audited,
                ram=partial(acct.ram, region),
                cloudwatch=partial(acct.cloudwatch, region) if cost else None,
            )
    except AWS_FAILURES as exc:
        return None, one_line(exc)
    view.coverage = [Coverage(acct.account_id, region, "ok")]
    return view, None
