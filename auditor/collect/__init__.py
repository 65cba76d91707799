"""Collect stage: AWS -> Snapshot.

One worker per account-region on a thread pool. A failure anywhere becomes a Coverage record
for that account-region and the run goes on; collectors never judge what they read.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.exceptions
from botocore.parsers import ResponseParserError

from auditor import __version__
from auditor.collect import ec2 as ec2_reader
from auditor.collect.sessions import (
    DEFAULT_ORG_ROLE,
    assume_role_session,
    base_session,
    client,
    enabled_regions,
    identify,
    one_line,
    org_accounts,
    organization_id,
)
from auditor.errors import InputError
from auditor.model import Coverage, Scope, Snapshot

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 16
ALL_REGIONS = "*"
# What a worker may meet and still let the run go on (moto raises NotImplementedError in-process).
# A server that does not implement an API answers HTML that botocore cannot parse.
AWS_FAILURES = (
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
    ResponseParserError,
    NotImplementedError,
)

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


@dataclass
class _Account:
    account_id: str
    session: boto3.Session | None = None
    regions: list[str] = field(default_factory=list)
    error: str | None = None


def collect(request: Request, progress: Progress | None = None) -> Snapshot:
    if request.role_name and not (request.accounts or request.org):
        raise InputError("--role-name needs --account or --org")
    if request.org and request.accounts:
        raise InputError("use either --org or --account, not both")
    base = base_session(request.profile)
    identity = identify(base)
    if request.org:
        account_ids = org_accounts(base, identity)
    elif request.accounts:
        account_ids = sorted(set(request.accounts))
    else:
        account_ids = [identity.account_id]
    role_name = request.role_name or DEFAULT_ORG_ROLE

    def open_account(account_id: str) -> _Account:
        acct = _Account(account_id)
        try:
            if account_id == identity.account_id:
                acct.session = base
            else:
                acct.session = assume_role_session(
                    base, request.profile, identity, account_id, role_name, request.external_id
                )
            acct.regions = list(request.regions) or enabled_regions(acct.session, identity)
        except AWS_FAILURES as exc:
            acct.error = one_line(exc)
        return acct

    workers = max(1, request.workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
        accounts = list(pool.map(open_account, account_ids))
        jobs = [(a, r) for a in accounts if a.session for r in a.regions]
        coverage = [
            Coverage(a.account_id, r, "error", a.error)
            for a in accounts
            if a.error
            for r in (request.regions or (ALL_REGIONS,))
        ]
        total, done, failed = len(jobs) + len(coverage), len(coverage), len(coverage)
        if progress:
            progress(done, total, failed)
        views: list[ec2_reader.RegionView] = []
        futures = [pool.submit(_read, a, r) for a, r in jobs]
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

    snapshot = merge_views(views)
    snapshot.tool_version = __version__
    snapshot.collected_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    snapshot.scope = Scope(
        partition=identity.partition,
        accounts=account_ids,
        regions=sorted({r for a in accounts for r in a.regions} | set(request.regions)),
        organization_id=organization_id(base, identity),
        organization_accounts=account_ids if request.org else [],
    )
    snapshot.coverage = sorted(coverage, key=lambda c: (c.account_id, c.region))
    return snapshot


def _read(acct: _Account, region: str) -> tuple[ec2_reader.RegionView | None, str | None]:
    assert acct.session is not None
    try:
        ec2 = client(acct.session, "ec2", region)
        return ec2_reader.read_region(ec2, acct.account_id, region), None
    except AWS_FAILURES as exc:
        return None, one_line(exc)


def merge_views(views: Iterable[ec2_reader.RegionView]) -> Snapshot:
    """Combine what every account saw; a resource shared through RAM appears once.

    Resources are keyed by owner account and id; a later view fills what an earlier one lacked
    (e.g. the owner can read DNS flags a participant cannot).
    """
    views = list(views)
    snapshot = Snapshot()
    for name in (f.name for f in dataclasses.fields(ec2_reader.RegionView)):
        merged: dict[tuple[str, str], Any] = {}
        for view in views:
            for item in getattr(view, name):
                key = (getattr(item, "account_id", ""), item.id)
                merged[key] = fill_missing(merged[key], item) if key in merged else item
        items = sorted(
            merged.values(), key=lambda i: (getattr(i, "account_id", ""), i.region, i.id)
        )
        setattr(snapshot, name, items)
    return snapshot


def fill_missing(kept: Any, other: Any) -> Any:
    """Field by field: keep what we have, take from `other` what we lack."""
    if dataclasses.is_dataclass(kept) and type(kept) is type(other):
        for f in dataclasses.fields(kept):
            setattr(kept, f.name, fill_missing(getattr(kept, f.name), getattr(other, f.name)))
        return kept
    if isinstance(kept, dict) and isinstance(other, dict):
        return {**other, **kept}
    if kept is None or kept == [] or kept == "":
        return other
    return kept
