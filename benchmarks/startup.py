"""Start-up benchmark: whole `vpc-audit` processes, this checkout (B) against a git revision (A).

Run by hand (not a test):  python benchmarks/startup.py [--against REV] [--runs 5]

Times `vpc-audit --help`, `vpc-audit rules` and an offline audit of the demo estate
(`--from-snapshot FILE --json -`), each run as `python -m auditor` in a fresh process from the
checkout under test: A from a temporary `git worktree` of REV (default HEAD~1), B from this
checkout, with the interpreter of this one. A and B alternate run by run (which goes first
alternates too), so that a machine whose speed varies slows both alike; each cell is the median
of `--runs` runs, after one untimed run that compiles the bytecode.

The demo snapshot is made once per side, before the timings, by that side's own collector (so
each reads a snapshot version it knows): the demo estate built on a local moto server (as
`vpc-audit demo` does), in a child process so that its AWS settings stay there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MAKE_SNAPSHOT = """
import sys
from auditor import demo
try:
    from auditor.cli.demo import isolate_from_real_aws
except ImportError:  # a revision from before the CLI was a package
    from auditor.cli import isolate_from_real_aws
from auditor.collect import Request, collect
from auditor.serial import dumps

with demo.MotoServer() as server:
    isolate_from_real_aws(server.url)
    demo.seed_estate(server.url)
    snapshot = collect(
        Request(accounts=demo.DEMO_ACCOUNTS, regions=demo.DEMO_REGIONS, role_name=demo.DEMO_ROLE)
    )
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write(dumps(snapshot))
"""


def make_snapshot(tree: Path, path: Path) -> None:
    subprocess.run(
        [sys.executable, "-c", MAKE_SNAPSHOT, str(path)], cwd=tree, env=env_for(tree), check=True
    )


def env_for(tree: Path) -> dict[str, str]:
    """The tree's own `auditor` first on the path, whatever the venv has installed."""
    return {**os.environ, "PYTHONPATH": str(tree), "VPC_AUDIT_PROCESSES": "1"}


def run_once(tree: Path, args: list[str]) -> float:
    """Seconds for one whole process; exit codes 0 and 1 (findings) are both a run."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        cwd=tree,
        env=env_for(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"{tree}: vpc-audit {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", default="HEAD~1", help="git revision A (default HEAD~1)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vpc-audit-startup-") as tmp:
        worktree = Path(tmp) / "a"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(worktree), args.against],
            cwd=ROOT,
            check=True,
        )
        trees = {"A": worktree, "B": ROOT}
        snapshots = {side: Path(tmp) / f"demo-snapshot-{side}.json" for side in trees}
        commands = {
            "vpc-audit --help": lambda side: ["--help"],
            "vpc-audit rules": lambda side: ["rules"],
            "--from-snapshot demo --json -": lambda side: [
                "--from-snapshot",
                str(snapshots[side]),
                "--json",
                "-",
            ],
        }
        try:
            for side, tree in trees.items():
                make_snapshot(tree, snapshots[side])
            times: dict[tuple[str, str], list[float]] = {}
            for name, cmd in commands.items():
                for side, tree in trees.items():
                    run_once(tree, cmd(side))  # compiles the bytecode; not timed
                    times[name, side] = []
                for i in range(args.runs):
                    order = ("A", "B") if i % 2 == 0 else ("B", "A")
                    for side in order:
                        times[name, side].append(run_once(trees[side], cmd(side)))
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False
            )
    print(f"A = {args.against}, B = this checkout; median of {args.runs} runs, seconds")
    print(f"{'command':<32} {'A':>7} {'B':>7} {'B/A':>6}")
    for name in commands:
        a, b = (statistics.median(times[name, side]) for side in ("A", "B"))
        print(f"{name:<32} {a:7.3f} {b:7.3f} {b / a:6.2f}")


if __name__ == "__main__":
    main()
