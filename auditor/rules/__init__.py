"""Rules stage: Snapshot -> Findings. Pure: no I/O besides reading the rule catalogue once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from auditor.model import Finding, RuleSettings, Snapshot
from auditor.net import Topology
from auditor.rules import dns, egress, endpoints, peering, routing, security_groups
from auditor.rules.base import REGISTRY, RuleMeta, catalogue, sort_key

RULE_MODULES = (dns, egress, endpoints, peering, routing, security_groups)


def run_rules(
    snapshot: Snapshot, only: Iterable[str] | None = None, settings: RuleSettings | None = None
) -> list[Finding]:
    """Every registered rule (or those in `only`) over one snapshot, most severe first.

    A resource seen from several accounts is one resource in the snapshot, and findings are
    keyed by fingerprint, so nothing is reported twice.
    """
    topology = Topology(snapshot, settings)
    wanted = set(only) if only is not None else set(REGISTRY)
    findings: dict[str, Finding] = {}
    for rule_id in sorted(wanted & set(REGISTRY)):
        for finding in REGISTRY[rule_id](topology):
            findings.setdefault(finding.id, finding)
    return sorted(findings.values(), key=sort_key)


def all_rules() -> Iterator[RuleMeta]:
    meta = catalogue()
    yield from (meta[rule_id] for rule_id in sorted(meta))
