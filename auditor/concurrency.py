"""How many threads and processes read AWS by default: kept apart from the collector (which
imports boto3) so that the CLI can show them in --help without importing it."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

# Threads, so also the most calls in flight at once. Each account-region is read by one thread
# at a time (by up to REGION_FANOUT near the end of a run), so this count does not change how
# hard any one account-region is hit (sessions.EC2_REQUEST_RATE bounds that): it sets the
# throughput. An organisation of 200 accounts x 17 regions with 30 calls per account-region
# (5 VPCs each, as in benchmarks/collect.py) makes about 100,000 calls: at 100 ms a call, 32
# threads take 100,000 x 0.1 s / 32 = 5.2 minutes; 16 would take 10.4 and, with the overhead
# measured at 100 ms (x1.26 in one process), 13. The threads share the --processes
# (two per core), since one process with 32 threads is CPU-bound (botocore's signing and
# parsing under one GIL, 2.5 ms a call, and the GIL's hand-offs between threads as much again).
DEFAULT_WORKERS = 32


def default_processes() -> int:
    """Two per usable core, at most 8: a process with half as many threads spends much less
    on handing its GIL around (benchmarks/collect.py, 2 cores: calls took 50 ms + 13 ms with
    2 processes of 16 threads, 50 ms + 8 ms with 4 of 8), and each process costs some 80 MB."""
    return min(2 * usable_cores(), 8) if can_fork() else 1


def usable_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may use: those it may run on, fewer if a cgroup (a container's
    CPU limit: ECS, Kubernetes) gives it less time than that, e.g. 0.5 vCPU counts as 1."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 CPU limit visible: the affinity stands
    return cores


def can_fork() -> bool:
    return sys.platform.startswith("linux")


DEFAULT_PROCESSES = default_processes()
