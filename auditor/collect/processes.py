"""Worker processes: one run's accounts read by several processes, so it uses more than one core.

A collector thread spends most of a call waiting for AWS, but its share of the CPU (botocore
signing, sending and parsing: a few milliseconds a call) runs under the GIL, and with tens of
threads the hand-offs of the GIL cost as much again. One process then serves a few hundred calls
a second, fewer than 32 threads at 50 ms keep in flight. So the accounts are dealt out to
`processes` forked processes, each with its share of the threads. An account stays in one
process: one AssumeRole per account, and its account-regions keep to one request rate. The
processes send their progress and their Part back through pipes; the parent merges the Parts.

Fork, not spawn: the children start at once with everything already imported and the base
credentials already resolved (no second SSO prompt; an MFA profile is asked again only if its
credentials expire mid-run, as in one process), and an in-process AWS mock (moto in tests)
carries over. Only on Linux, where fork is safe for a process with no other threads running;
elsewhere a run uses one process.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import urllib3

# Defined apart so that the CLI shows them without importing the collector; named here too.
from auditor.concurrency import DEFAULT_PROCESSES as DEFAULT_PROCESSES
from auditor.concurrency import can_fork as can_fork
from auditor.concurrency import default_processes as default_processes
from auditor.concurrency import usable_cores as usable_cores
from auditor.errors import AuditError

if TYPE_CHECKING:
    from auditor.collect import Part, Progress, Target


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def share(items: Sequence[str], count: int, workers: int) -> list[tuple[list[str], int]]:
    """`items` (accounts) dealt out to `count` shares in turn, each with its part of the
    `workers` threads: in proportion to its accounts, so that every share needs about as many
    rounds of account-regions as the others, at least one each."""
    shares = [list(items[i::count]) for i in range(count)]
    threads = [max(1, workers * len(s) // len(items)) for s in shares]
    for i in range(workers - sum(threads)):  # what rounding left over, one each in turn
        threads[i % count] += 1
    return list(zip(shares, threads, strict=True))


def read_in_processes(
    target: Target,
    account_ids: Sequence[str],
    processes: int,
    workers: int,
    progress: Progress | None,
) -> list[Part]:
    """Read the accounts in `processes` forked processes, `workers` threads among them."""
    context = multiprocessing.get_context("fork")
    pools = connection_pools()
    children: list[tuple[Any, multiprocessing.connection.Connection]] = []
    try:
        # What the children inherit stays out of their garbage collections (the gc module's
        # advice for forking): collecting would walk, and so copy, every page of the heap.
        gc.freeze()
        for index, (accounts, threads) in enumerate(share(account_ids, processes, workers)):
            reader, writer = context.Pipe(duplex=False)
            readers = [r for _, r in children] + [reader]
            child = context.Process(
                target=_child,
                args=(writer, readers, target, accounts, threads, index == 0, pools),
                name=f"vpc-audit-collect-{index}",
                daemon=True,
            )
            # Held back until the child has set its own handlers (see _child); the parent
            # takes a Ctrl-C or SIGTERM that came meanwhile once the child has started.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                child.start()
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            writer.close()
            children.append((child, reader))
        return _gather(children, progress)
    finally:
        gc.unfreeze()
        for child, reader in children:
            reader.close()
            if child.is_alive():
                child.kill()
            child.join()


def _gather(
    children: list[tuple[Any, multiprocessing.connection.Connection]],
    progress: Progress | None,
) -> list[Part]:
    """Wait for every child's Part, adding up their progress as it comes (once every child
    has counted its account-regions, so that the total does not grow as they start)."""
    counts: dict[Any, tuple[int, int, int]] = {}
    parts: dict[Any, Part] = {}
    waiting = {reader: child for child, reader in children}
    while waiting:
        for reader in multiprocessing.connection.wait(list(waiting)):
            assert isinstance(reader, multiprocessing.connection.Connection)
            try:
                kind, payload = reader.recv()
            except EOFError:
                child = waiting[reader]
                child.join()
                raise AuditError(
                    f"a collector process ended without its results (exit code {child.exitcode})"
                ) from None
            if kind == "progress":
                counts[reader] = payload
                if progress and len(counts) == len(children):
                    done, total, failed = (sum(c[i] for c in counts.values()) for i in range(3))
                    progress(done, total, failed)
            elif kind == "part":
                parts[reader] = payload
                del waiting[reader]
            elif kind == "audit-error":  # a user-facing error: raised as the child raised it
                raise payload
            else:  # "crash": a bug in the child, as text (its traceback with --debug)
                message, details = payload
                crash = CollectorCrash(" ".join(message.split()))
                crash.add_note(f"in the collector process:\n{details}")  # shown with --debug
                raise crash
    return [parts[reader] for _, reader in children]


def _child(
    writer: multiprocessing.connection.Connection,
    readers: list[multiprocessing.connection.Connection],
    target: Target,
    accounts: list[str],
    threads: int,
    ask_org: bool,
    pools: list[urllib3.PoolManager],
) -> None:
    # Ctrl-C reaches the whole process group, and a service manager's SIGTERM often every
    # process of the service: the parent alone handles them, and ends the children.
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    # The pipes' read ends forked with this process: only the parent's may stay open, so that
    # when the parent is gone (killed) a child's next send fails and the child stops.
    for reader in readers:
        reader.close()
    for manager in pools:  # this process's copies of the parent's kept-alive connections
        manager.clear()

    def send(kind: str, payload: Any) -> None:
        try:
            writer.send((kind, payload))
        except OSError:  # the parent is gone (killed): stop reading AWS for nobody
            os._exit(1)

    try:
        send("part", target.read(accounts, threads, ask_org, lambda *c: send("progress", c)))
    except AuditError as exc:
        send("audit-error", exc)
    except BaseException as exc:
        send("crash", (f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        writer.close()


class CollectorCrash(RuntimeError):
    """A collector process failed on a bug: an internal error, with the child's traceback."""


def connection_pools() -> list[urllib3.PoolManager]:
    """This process's connection pools, for each forked child to close its copies.

    The parent's clients and credential providers (the instance metadata and container
    credential fetchers keep theirs) hold sockets that every child shares after a fork: two
    children refreshing credentials at once would interleave their requests on one connection.
    A child closing its copy leaves the parent's open. Found once, in the parent: a walk of
    the heap in each child would copy every page of it.
    """
    return [obj for obj in gc.get_objects() if isinstance(obj, urllib3.PoolManager)]
