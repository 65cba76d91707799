"""The rule pack in two processes on big snapshots: the rules are pure functions of the snapshot,
so a forked child runs the peering, transit gateway and network ACL rules (which share their
worked-out return checks, hub tables and flows among themselves) while the parent runs the rest,
and the child's findings come back pickled. At 10,000 VPCs on two cores (benchmarks/offline.py,
README Performance): 5.6 -> 4.0 s on the peering estate, 4.6 -> 2.5 s on the hub-and-spoke one;
the child peaks at 200-330 MB.

Fork, as the collector's processes: the child starts with the snapshot already in memory, and
only on Linux (auditor.concurrency.can_fork). If the child fails in any way, the parent runs its
rules itself, so a rule's error surfaces as it would in one process.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
from collections.abc import Callable, Sequence

from auditor.concurrency import can_fork, usable_cores
from auditor.model import Finding, Snapshot
from auditor.rules.base import REGISTRY

# Below this many VPCs the rules take well under a second, less than a fork and the pickling.
SPLIT_FROM_VPCS = 2000
# The child's rules: these modules' rules share memoised work with each other, not with the rest.
CHILD_MODULES = ("auditor.rules.peering", "auditor.rules.transit", "auditor.rules.network_acls")

Work = Callable[[Sequence[str]], list[Finding]]


def worth_splitting(snapshot: Snapshot, processes: int) -> bool:
    """Two processes only where they run at once: on one core (or a container's share of
    one) the split costs a fork and the pickling for nothing (10,000 VPCs: 9 s against 7)."""
    return (
        processes >= 2
        and len(snapshot.vpcs) >= SPLIT_FROM_VPCS
        and can_fork()
        and usable_cores() >= 2
    )


def split(rule_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the child's rules, the parent's), each in the given order."""
    child = [r for r in rule_ids if REGISTRY[r].__module__ in CHILD_MODULES]
    return child, [r for r in rule_ids if r not in child]


def in_two_processes(work: Work, rule_ids: Sequence[str]) -> list[Finding]:
    """`work(rule_ids)`, the child's share in a forked process: the parent's findings, then
    the child's."""
    child_ids, own_ids = split(rule_ids)
    if not child_ids or not own_ids:
        return work(rule_ids)
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(writer, work, child_ids), daemon=True)
    # What the child inherits stays out of its garbage collections (the gc module's advice for
    # forking): collecting would touch, and so copy, every page of the heap. (This unfreezes
    # afterwards whatever a caller had frozen too: it then waits in the oldest generation.)
    gc.freeze()
    try:
        child.start()
    except OSError:  # no fork (out of memory, too many processes): one process it is
        reader.close()
        return work(rule_ids)
    finally:
        gc.unfreeze()
        writer.close()
    try:
        own = work(own_ids)
        try:
            theirs: list[Finding] = reader.recv()
        except (EOFError, OSError):  # the child died: its rules are worked out here instead
            theirs = work(child_ids)
        return own + theirs
    finally:
        reader.close()
        if child.is_alive():
            child.kill()
        child.join()


def _child(
    writer: multiprocessing.connection.Connection, work: Work, rule_ids: Sequence[str]
) -> None:
    """The child: its findings down the pipe, or nothing (the parent then runs its rules
    again and reports any error itself)."""
    try:
        writer.send(work(rule_ids))
    except BaseException:
        pass
    finally:
        writer.close()
