"""The rule registry and catalogue: what every rule module builds on.

A rule's title, severity and documentation live in policies/rules/<rule-id>.toml, so the text exists in
one place and `vpc-audit rules`, the docs and the reports share it; its cases (small networks it
reports, or not) in policies/rules/cases/<rule-id>.yaml, which the tests run and the docs show.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, wraps
from pathlib import Path
from typing import Any

import yaml

from auditor.model import Endpoint, Finding, Route, Severity, name_of
from auditor.net import Topology
from auditor.resources import data_path
from auditor.states import ENDPOINT_DEAD

# libyaml's loader when PyYAML has it: some 40 files are read at the start of every audit.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RuleFunction = Callable[[Topology], Iterable[Finding]]
REGISTRY: dict[str, RuleFunction] = {}


class Unaliased(yaml.SafeDumper):
    """Writes a resource a case file shares by YAML alias (&name, *name) out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass(frozen=True)
class RuleCase:
    """One small network a rule is run on, with what it reports there (nothing, for a case of
    `not_reported`). The tests run every case; the docs show them as the rule's examples."""

    case: str  # what the network shows, in a sentence
    network: tuple[dict[str, Any], ...]  # one {kind: fields} per resource
    finds: tuple[str, ...] = ()  # ids of the resources reported
    settings: dict[str, Any] = field(default_factory=dict)  # audit policy settings (RuleSettings)
    unaudited: tuple[tuple[str, str], ...] = ()  # (account, region) whose read failed

    @classmethod
    def parse(cls, entry: dict[str, Any]) -> RuleCase:
        return cls(
            case=entry["case"],
            network=tuple(entry["network"]),
            finds=tuple(entry.get("finds", ())),
            settings=dict(entry.get("settings", {})),
            unaudited=tuple(tuple(u) for u in entry.get("unaudited", ())),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "network": self.network_yaml(),
            "finds": list(self.finds),
            "settings": dict(self.settings),
            "unaudited": [list(u) for u in self.unaudited],
        }

    def network_yaml(self) -> str:
        """The network as YAML for the docs: a resource a line where it fits, else a block."""
        lines = []
        for item in self.network:
            flow = dump_yaml(item, flow=True, width=10_000).strip()
            lines.append(f"- {flow}" if len(flow) <= 96 else dump_yaml([item]).rstrip())
        return "\n".join(lines) + "\n"


def dump_yaml(data: Any, flow: bool | None = None, width: int = 100) -> str:
    return yaml.dump(data, Dumper=Unaliased, sort_keys=False, default_flow_style=flow, width=width)


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

    @property
    def reported(self) -> tuple[RuleCase, ...]:
        return rule_cases(self.id)[0]

    @property
    def not_reported(self) -> tuple[RuleCase, ...]:
        return rule_cases(self.id)[1]

    def as_dict(self, cases: bool = False) -> dict[str, Any]:
        """The metadata as the report and the docs show it; `cases` adds the examples (read
        from their files only then: an audit needs none of them)."""
        meta: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "severity": str(self.severity),
            "resource_type": self.resource_type,
            "what": self.what,
            "why": self.why,
            "fix": self.fix,
            "references": list(self.references),
        }
        if cases:
            meta["reported"] = [c.as_dict() for c in self.reported]
            meta["not_reported"] = [c.as_dict() for c in self.not_reported]
        return meta


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
        commands: Iterable[str] = (),
    ) -> Finding:
        """A finding; `detail` tells apart several problems of the rule on one resource;
        `commands` are the AWS CLI commands of the fix (auditor.rules.commands)."""
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
            remediation_commands=list(dict.fromkeys(commands)),
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
    """Every rule's metadata, from policies/rules/<rule-id>.toml (its cases: rule_cases)."""
    metas = {}
    folder = data_path("policies") / "rules"
    for path in sorted(folder.glob("*.toml")):
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


@cache
def rule_cases(rule_id: str) -> tuple[tuple[RuleCase, ...], tuple[RuleCase, ...]]:
    """A rule's (reported, not reported) cases, from policies/rules/cases/<rule-id>.yaml: read
    on first use (the docs and the tests), so an audit's start does not pay for 40 YAML files."""
    cases = load_cases(data_path("policies") / "rules" / "cases" / f"{rule_id}.yaml")
    return (
        tuple(RuleCase.parse(c) for c in cases.get("reported", ())),
        tuple(RuleCase.parse(c) for c in cases.get("not_reported", ())),
    )


def load_cases(path: Path) -> dict[str, Any]:
    """A rule's cases file ({reported: [...], not_reported: [...]}); empty when it has none."""
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=SafeLoader)
    return data if isinstance(data, dict) else {}


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
