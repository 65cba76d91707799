"""Merge: one Snapshot from the account-regions of a run, or from the snapshots of its shards."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from auditor.errors import InputError
from auditor.model import Scope, Snapshot


def resource_fields() -> tuple[str, ...]:
    """The Snapshot fields that hold resources: every list but the coverage and its notes."""
    hints = typing.get_type_hints(Snapshot)
    return tuple(
        f.name
        for f in dataclasses.fields(Snapshot)
        if typing.get_origin(hints[f.name]) is list and f.name not in ("coverage", "coverage_notes")
    )


def merge_views(views: Iterable[Snapshot]) -> Snapshot:
    """Combine what every account saw; a resource shared through RAM appears once.

    Resources are keyed by owner account, region and id (a peering's region is its
    requester's, whichever side saw it; a transit gateway peering attachment has one id and an
    owner's side in each region). The view that read the resource's own
    account-region (its coverage says so) goes first and keeps its values; the others fill
    what it lacked (e.g. the owner can read DNS flags a participant cannot), in the order
    given. The same merge combines the account-regions of a run and the shards of an audit.
    """
    views = list(views)
    snapshot = Snapshot()
    for name in resource_fields():
        own: list[Any] = []
        seen: list[Any] = []
        for view in views:
            read = {(c.account_id, c.region) for c in view.coverage if c.status == "ok"}
            for item in getattr(view, name):
                at_home = (getattr(item, "account_id", ""), item.region) in read
                (own if at_home else seen).append(item)
        merged: dict[tuple[str, str, str], Any] = {}
        for item in own + seen:
            key = (getattr(item, "account_id", ""), item.region, item.id)
            merged[key] = fill_missing(merged[key], item) if key in merged else item
        items = sorted(
            merged.values(), key=lambda i: (getattr(i, "account_id", ""), i.region, i.id)
        )
        setattr(snapshot, name, items)
    notes = {(n.account_id, n.region, n.subject): n for view in views for n in view.coverage_notes}
    snapshot.coverage_notes = [notes[key] for key in sorted(notes)]
    return snapshot


def merge_snapshots(parts: Sequence[tuple[str, Snapshot]]) -> tuple[Snapshot, list[str]]:
    """One snapshot from the shards of an audit, or from audits of separate account-regions,
    named by where they came from; also returns notes worth telling the user.

    Resources merge as in a run (merge_views), the coverage is concatenated and the scope
    unioned. Raises InputError for snapshots that do not belong together: other partitions or
    organisations, shards of different splits, a shard given twice or missing, or two
    snapshots that both read one account-region.
    """
    if not parts:
        raise InputError("merge needs at least one snapshot")
    first_name, first = parts[0]
    for name, snap in parts[1:]:
        if snap.scope.partition != first.scope.partition:
            raise InputError(
                f"{name} is from partition {snap.scope.partition} but {first_name} from "
                f"{first.scope.partition}: they cannot be merged"
            )
        org, first_org = snap.scope.organization_id, first.scope.organization_id
        if org and first_org and org != first_org:
            raise InputError(
                f"{name} is from organisation {org} but {first_name} from {first_org}: "
                "they cannot be merged"
            )
    check_shards(parts)
    notes = []
    read_by: dict[tuple[str, str], str] = {}
    for name, snap in parts:
        for cov in snap.coverage:
            pair = (cov.account_id, cov.region)
            if pair in read_by:
                raise InputError(
                    f"{read_by[pair]} and {name} both hold {cov.account_id}/{cov.region}: "
                    "they overlap (the same share twice, or two audits of one account-region)"
                )
            read_by[pair] = name
    account_lists = {tuple(snap.scope.accounts) for _, snap in parts}
    if first.shard is not None and len(account_lists) > 1:
        notes.append(
            "the shards listed different accounts (did the organisation change during the "
            "run?): an account missing from a shard's list may be missing some regions"
        )
    merged = merge_views(snap for _, snap in parts)
    merged.tool_version = first.tool_version
    merged.collected_at = min((s.collected_at for _, s in parts if s.collected_at), default="")
    merged.scope = Scope(
        partition=first.scope.partition,
        accounts=sorted({a for _, s in parts for a in s.scope.accounts}),
        regions=sorted({r for _, s in parts for r in s.scope.regions}),
        organization_id=next(
            (s.scope.organization_id for _, s in parts if s.scope.organization_id), None
        ),
        organization_accounts=sorted({a for _, s in parts for a in s.scope.organization_accounts}),
    )
    merged.coverage = sorted(
        (c for _, s in parts for c in s.coverage), key=lambda c: (c.account_id, c.region)
    )
    return merged, notes


def check_shards(parts: Sequence[tuple[str, Snapshot]]) -> None:
    """Shards merge only with the other shards of the same split, all of them, once each."""
    shards = [(name, snap.shard) for name, snap in parts if snap.shard is not None]
    if not shards:
        return
    if len(shards) != len(parts):
        whole = next(name for name, snap in parts if snap.shard is None)
        name, shard = shards[0]
        raise InputError(
            f"{name} is shard {shard} but {whole} is not a shard: "
            "merge the shards of one audit, or whole audits, not both"
        )
    name, shard = shards[0]
    by_index: dict[int, str] = {}
    for other_name, other in shards:
        if other.count != shard.count:
            raise InputError(
                f"{name} is shard {shard} but {other_name} is shard {other}: "
                "shards of different splits cannot be merged"
            )
        if other.index in by_index:
            raise InputError(
                f"shard {other} is given twice ({by_index[other.index]} and {other_name})"
            )
        by_index[other.index] = other_name
    missing = [i for i in range(shard.count) if i not in by_index]
    if missing:
        listed = ", ".join(f"{i}/{shard.count}" for i in missing)
        raise InputError(f"shard {listed} missing: merge needs every shard of the audit")


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
