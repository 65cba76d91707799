"""Fan-out: the threads of a run, the order and shard of its jobs, and one job's calls shared.

How a run's (account, region) jobs are spread: over a pool that drops queued work on an error
(thread_pool), in an order that keeps neighbouring jobs on different accounts (interleave), over
the shards of an audit (shard_of), and, near the end of a run, over idle threads that help a job
still being read with its independent calls (Fanout).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditor.collect import _Account


@contextmanager
def thread_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A pool that drops its queued work when the block is left by an exception (Ctrl-C,
    SIGTERM, a bug): only the account-regions under way finish, not all those queued."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def interleave(accounts: Sequence[_Account]) -> list[tuple[_Account, str]]:
    """Every (account, region) job of the opened accounts, spread out: round i takes one region
    of each account, the account's i-th region counted from its own position in the list.
    Workers that start jobs together hit different accounts (and regional endpoints), never
    the regions of one account at once, so the load on each account is spread over the run."""
    jobs = []
    rounds = max((len(a.regions) for a in accounts if a.session), default=0)
    for i in range(rounds):
        for j, acct in enumerate(accounts):
            if acct.session and i < len(acct.regions):
                jobs.append((acct, acct.regions[(i + j) % len(acct.regions)]))
    return jobs


def shard_of(account_id: str, region: str, count: int) -> int:
    """The shard (0 to count-1) that reads this account-region: a hash of the pair, so each
    shard decides alone and the same way every time, whatever accounts the others list."""
    digest = hashlib.sha256(f"{account_id}/{region}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


class Fanout:
    """Runs the independent calls of one account-region's round (a `read_region` runner).

    The account-region's own thread runs them in order. It also queues `width - 1` helpers on
    the pool: they start only when a thread has nothing else to do, because every
    account-region was queued before them, so in the bulk of a run each account-region has
    one thread and at most `workers` calls are in flight in all. Near the end, idle threads
    join the account-regions still being read, up to `width` threads on one.
    """

    def __init__(self, pool: Executor | None, width: int) -> None:
        self.pool = pool
        self.width = max(1, width)

    def __call__(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        batch = _Batch(calls)
        if self.pool is not None:
            for _ in range(min(self.width, len(calls)) - 1):
                self.pool.submit(batch.work)
        batch.work()
        return batch.results()


class _Batch:
    """Calls that any number of threads work through, each call run once, in list order.

    After a failure no new call starts; `results` waits for the calls under way and raises the
    first failure in list order, so the reason recorded does not depend on timing.
    """

    def __init__(self, calls: Sequence[Callable[[], Any]]) -> None:
        self._calls = list(calls)
        self._results: list[Any] = [None] * len(self._calls)
        self._errors: list[Exception | None] = [None] * len(self._calls)
        self._next = 0
        self._finished = 0
        self._failed = False
        self._changed = threading.Condition()

    def work(self) -> None:
        while True:
            with self._changed:
                if self._failed or self._next >= len(self._calls):
                    return
                index = self._next
                self._next += 1
            result, error = None, None
            try:
                result = self._calls[index]()
            except Exception as exc:
                error = exc
            with self._changed:
                self._results[index], self._errors[index] = result, error
                self._finished += 1
                self._failed = self._failed or error is not None
                self._changed.notify_all()

    def results(self) -> list[Any]:
        with self._changed:
            self._changed.wait_for(lambda: self._finished == self._next)
            # Helpers still queued keep this batch alive until a thread gets to them: let go
            # of the calls (and through them the account-region's client) now.
            results, errors = self._results, self._errors
            self._calls, self._results, self._errors = [], [], []
        for error in errors:
            if error is not None:
                raise error
        return results
