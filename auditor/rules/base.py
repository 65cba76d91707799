"""The rule registry and catalogue: what every rule module builds on.

A rule's title, severity and documentation live in policies/rules/<rule-id>.toml, so the text exists in
one place and `vpc-audit rules`, the docs and the reports share it.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, wraps
from typing import Any

from auditor.model import Endpoint, Finding, Route, Severity, name_of
from auditor.net import Topology
from auditor.resources import data_path
from auditor.states import ENDPOINT_DEAD

RuleFunction = Callable[[Topology], Iterable[Finding]]
REGISTRY: dict[str, RuleFunction] = {}


@dataclass(frozen=True)
class RuleMeta:
    id: str
    title: str
    severity: Severity
    resource_type: str
    what: str
    why: str
    fix: str
    references: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": str(self.severity),
            "resource_type": self.resource_type,
            "what": self.what,
            "why": self.why,
            "fix": self.fix,
            "references": list(self.references),
        }


@dataclass(frozen=True)
class Found:
    """Builds the findings of one rule: @rule binds the id, the rule passes the rest."""

    rule_id: str

    def __call__(
        self,
        *,
        account_id: str,
        region: str,
        resource_id: str,
        vpc_id: str | None,
        message: str,
        remediation: str,
        evidence: dict[str, object],
        detail: str = "",
    ) -> Finding:
        """A finding; `detail` tells apart several problems of the rule on one resource."""
        meta = catalogue()[self.rule_id]
        return Finding(
            rule_id=self.rule_id,
            severity=meta.severity,
            title=meta.title,
            account_id=account_id,
            region=region,
            resource_type=meta.resource_type,
            resource_id=resource_id,
            vpc_id=vpc_id,
            message=message,
            remediation=remediation,
            evidence=evidence,
            id=fingerprint(self.rule_id, resource_id, detail),
        )


RuleBody = Callable[[Topology, Found], Iterable[Finding]]


def rule(rule_id: str) -> Callable[[RuleBody], RuleFunction]:
    """Register a rule under `rule_id`, the one place its id is written.

    The function is given the snapshot's Topology and a `Found` bound to the id, with which it
    builds its findings: `yield found(account_id=..., resource_id=..., ...)`. What is registered
    (and returned) takes the Topology alone."""

    def register(function: RuleBody) -> RuleFunction:
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id} is registered twice")
        found = Found(rule_id)

        @wraps(function)
        def run(topo: Topology) -> Iterable[Finding]:
            return function(topo, found)

        REGISTRY[rule_id] = run
        return run

    return register


@cache
def catalogue() -> dict[str, RuleMeta]:
    """Every rule's metadata, from policies/rules/<rule-id>.toml."""
    metas = {}
    for path in sorted((data_path("policies") / "rules").glob("*.toml")):
        with open(path, "rb") as f:
            entry = tomllib.load(f)
        metas[path.stem] = RuleMeta(
            id=path.stem,
            title=entry["title"],
            severity=Severity.parse(entry["severity"]),
            resource_type=entry["resource_type"],
            what=entry["what"].strip(),
            why=entry["why"].strip(),
            fix=entry["fix"].strip(),
            references=tuple(entry.get("references", ())),
        )
    return metas


def fingerprint(rule_id: str, resource_id: str, detail: str = "") -> str:
    """Stable across runs: only what identifies the problem, never text, tags or order."""
    key = f"{rule_id}|{resource_id}" + (f"|{detail}" if detail else "")
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def endpoint_live(endpoint: Endpoint) -> bool:
    """Not on its way out or failed: an endpoint that carries (or will carry) traffic."""
    return endpoint.state.lower() not in ENDPOINT_DEAD


def label(resource_id: str, tags: dict[str, str] | None = None) -> str:
    """`name (id)` when the resource has a Name tag, else the id: what people recognise."""
    name = name_of(tags or {})
    return f"{name} ({resource_id})" if name else resource_id


def vpc_label(topo: Topology, vpc_id: str) -> str:
    vpc = topo.vpcs.get(vpc_id)
    return label(vpc_id, vpc.tags if vpc else None)


def routes_evidence(routes: Iterable[Route]) -> list[dict[str, str]]:
    """Routes as evidence rows, each once, in table order."""
    unique = {id(r): r for r in routes}.values()
    return [{"destination": r.destination, "target": r.target_id, "state": r.state} for r in unique]


def sort_key(f: Finding) -> tuple[Any, ...]:
    return (-f.severity, f.rule_id, f.account_id, f.region, f.resource_id)
