"""Rules stage: Snapshot -> Findings. Pure: no I/O besides reading the rule catalogue once."""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from auditor.model import Finding, RuleSettings, Snapshot
from auditor.net import Topology
from auditor.policy import AuditPolicy, ExpiredSuppression, Suppression, apply_policy
from auditor.rules.base import REGISTRY, RuleMeta, catalogue, sort_key
from auditor.rules.commands import group_commands
from auditor.rules.processes import in_two_processes, worth_splitting

__all__ = ["REGISTRY", "AuditResult", "RuleMeta", "all_rules", "evaluate", "run_rules"]


def load_rule_modules() -> None:
    """Import every module of this package, so that each registers its rules (@rule)."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__, f"{__name__}.")):
        importlib.import_module(module)


load_rule_modules()


def run_rules(
    snapshot: Snapshot, only: Iterable[str] | None = None, settings: RuleSettings | None = None
) -> list[Finding]:
    """Every registered rule (or those in `only`) over one snapshot, most severe first.

    A resource seen from several accounts is one resource in the snapshot, and findings are
    keyed by fingerprint, so nothing is reported twice. Gateway endpoint commands are grouped
    across findings (auditor.rules.commands).
    """
    return group_commands(each_rule(snapshot, only, settings))


def each_rule(
    snapshot: Snapshot,
    only: Iterable[str] | None = None,
    settings: RuleSettings | None = None,
    processes: int = 1,
) -> list[Finding]:
    """The findings of `run_rules`, each with its own commands (not grouped yet); in two
    processes when `processes` allows and the snapshot is big (auditor.rules.processes)."""

    def work(rule_ids: Sequence[str]) -> list[Finding]:
        topology = Topology(snapshot, settings)
        return [finding for rule_id in rule_ids for finding in REGISTRY[rule_id](topology)]

    wanted = sorted((set(only) if only is not None else set(REGISTRY)) & set(REGISTRY))
    found = in_two_processes(work, wanted) if worth_splitting(snapshot, processes) else work(wanted)
    findings: dict[str, Finding] = {}
    for finding in found:
        findings.setdefault(finding.id, finding)
    return sorted(findings.values(), key=sort_key)


@dataclass
class AuditResult:
    findings: list[Finding]
    expired_suppressions: list[ExpiredSuppression] = field(default_factory=list)
    unmatched_suppressions: list[Suppression] = field(default_factory=list)


def evaluate(
    snapshot: Snapshot,
    policy: AuditPolicy | None = None,
    today: dt.date | None = None,
    processes: int = 1,
) -> AuditResult:
    """The rules as the audit policy wants them: enabled set, trust, severities, suppressions.
    `processes`: 2 or more lets a big snapshot's rules run in two (auditor.rules.processes)."""
    policy = policy or AuditPolicy()
    with cyclic_gc_paused():
        enabled = policy.enabled(REGISTRY)
        findings = each_rule(snapshot, enabled, policy.settings(), processes)
        outcome = apply_policy(findings, snapshot, policy, today or dt.date.today(), enabled)
        # Grouped after the suppressions: a suppressed table stays out of the command that
        # fixes the others (and the suppressed findings' commands are grouped apart).
        grouped = group_commands(f for f in outcome.findings if not f.suppressed)
        grouped += group_commands(f for f in outcome.findings if f.suppressed)
        return AuditResult(sorted(grouped, key=sort_key), outcome.expired, outcome.unmatched)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The rules build acyclic data (findings, evidence), so the cyclic collector frees nothing
    there, yet each of its full passes walks the whole snapshot: at 10k VPCs it took about a
    quarter of the rules' time and collected 0 objects. Reference counting still frees garbage
    as usual; a cycle, if any, waits for the collector's next run after this.

    On the way out the survivors (findings, a million and a half objects at 10k VPCs) join the
    oldest generation unscanned (gc.freeze then gc.unfreeze): re-enabling the collector would
    otherwise start with a young-generation pass over all of them (0.5 s), freeing nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def all_rules() -> Iterator[RuleMeta]:
    meta = catalogue()
    yield from (meta[rule_id] for rule_id in sorted(meta))
