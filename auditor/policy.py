"""Audit policy (`--policy FILE`, YAML or TOML): which rules run, at what severity, whom we
trust, which findings are knowingly accepted (suppressions with a reason and an expiry), and
the data processing prices the egress findings' cost uses (over the table in policies/pricing).

The file is decoded with the same strict decoder as snapshots, so an unknown key or a wrong
type is an error that names the key, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import InputError
from auditor.model import Finding, Prices, RuleSettings, Severity, Snapshot
from auditor.resources import data_path
from auditor.serial import DecodeError, from_jsonable

POLICY_VERSION = 1
ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
ANY_RULE = "*"
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
PRICE_TABLE = ("pricing", "nat-gateway.toml")
PRICE_KINDS = ("nat_gateway_per_gb", "transit_gateway_per_gb")


@dataclass
class RulePolicy:
    enabled: bool = True
    severity: str | None = None


@dataclass
class Trusted:
    accounts: list[str] = field(default_factory=list)
    organization_ids: list[str] = field(default_factory=list)


@dataclass
class Options:
    include_empty: bool = False


@dataclass
class Pricing:
    """Prices in USD per GB by region that replace or add to the shipped table's, and their
    date (the report names the source of every price it used)."""

    nat_gateway_per_gb: dict[str, object] = field(default_factory=dict)
    transit_gateway_per_gb: dict[str, object] = field(default_factory=dict)
    as_of: str | None = None

    def prices(self) -> Prices | None:
        if not (self.nat_gateway_per_gb or self.transit_gateway_per_gb):
            return None
        return Prices(
            {r: float(v) for r, v in self.nat_gateway_per_gb.items()},  # type: ignore[arg-type]
            {r: float(v) for r, v in self.transit_gateway_per_gb.items()},  # type: ignore[arg-type]
            "audit policy (pricing)",
            self.as_of or "not given",
        )


@cache
def shipped_prices() -> Prices:
    """The dated price table shipped in policies/pricing, read once."""
    data = tomllib.loads(data_path("policies").joinpath(*PRICE_TABLE).read_text("utf-8"))
    return Prices(
        dict(data["nat_gateway_per_gb"]),
        dict(data["transit_gateway_per_gb"]),
        str(data["source"]),
        str(data["as_of"]),
    )


@dataclass
class Suppression:
    rule: str
    reason: str
    expires: str | None = None
    account: str | None = None
    region: str | None = None
    resource: str | None = None
    tag: dict[str, str] = field(default_factory=dict)

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and dt.date.fromisoformat(self.expires) < today

    def matches(self, finding: Finding, tags: dict[str, str]) -> bool:
        return (
            self.rule in (ANY_RULE, finding.rule_id)
            and self.account in (None, finding.account_id)
            and self.region in (None, finding.region)
            and (self.resource is None or fnmatch.fnmatchcase(finding.resource_id, self.resource))
            and all(tags.get(key) == value for key, value in self.tag.items())
        )


@dataclass
class AuditPolicy:
    version: int = POLICY_VERSION
    rules: dict[str, RulePolicy] = field(default_factory=dict)
    trusted: Trusted = field(default_factory=Trusted)
    options: Options = field(default_factory=Options)
    suppressions: list[Suppression] = field(default_factory=list)
    pricing: Pricing = field(default_factory=Pricing)

    def settings(self) -> RuleSettings:
        override = self.pricing.prices()
        return RuleSettings(
            trusted_accounts=frozenset(self.trusted.accounts),
            trusted_organization_ids=frozenset(self.trusted.organization_ids),
            include_empty=self.options.include_empty,
            prices=(override, shipped_prices()) if override else (shipped_prices(),),
        )

    def enabled(self, rule_ids: Iterable[str]) -> list[str]:
        return [r for r in rule_ids if self.rules.get(r, RulePolicy()).enabled]

    def severity(self, rule_id: str) -> Severity | None:
        override = self.rules.get(rule_id, RulePolicy()).severity
        return Severity.parse(override) if override else None


@dataclass(frozen=True)
class RuleSelection:
    """Rules picked on the command line for one run (--rule, --exclude-rule: globs of rule ids;
    --min-severity). It narrows the policy's enabled set, never widens it."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_severity: Severity | None = None

    def narrow(self, policy: AuditPolicy, defaults: dict[str, Severity]) -> AuditPolicy:
        """`policy` with every rule outside the selection disabled; `defaults` are the rules'
        catalogue severities (the policy's own override counts for --min-severity)."""
        for flag, patterns in (("--rule", self.include), ("--exclude-rule", self.exclude)):
            for pattern in patterns:
                if not fnmatch.filter(defaults, pattern):
                    raise InputError(
                        f"{flag} {pattern!r} matches no rule (`vpc-audit rules` lists them)"
                    )
        rules = dict(policy.rules)
        for rule_id, default in defaults.items():
            severity = policy.severity(rule_id) or default
            kept = (
                (not self.include or any(fnmatch.fnmatchcase(rule_id, p) for p in self.include))
                and not any(fnmatch.fnmatchcase(rule_id, p) for p in self.exclude)
                and (self.min_severity is None or severity >= self.min_severity)
            )
            if not kept:
                rules[rule_id] = dataclasses.replace(
                    policy.rules.get(rule_id, RulePolicy()), enabled=False
                )
        narrowed = dataclasses.replace(policy, rules=rules)
        if not narrowed.enabled(defaults):
            raise InputError("the rule selection leaves no rule to run")
        return narrowed


@dataclass
class ExpiredSuppression:
    """A suppression past its date: it no longer hides anything, and the report says so."""

    suppression: Suppression
    finding_ids: list[str]


def load_policy(path: Path, known_rules: Iterable[str]) -> AuditPolicy:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read policy: {exc.strerror or exc}") from None
    data = _parse(path, raw)
    if not isinstance(data, dict):
        raise InputError(f"{path}: a policy must be a mapping of keys (version, rules, ...)")
    try:
        policy = from_jsonable(AuditPolicy, _dates_to_text(data), "policy")
        _validate(policy, set(known_rules))
    except (DecodeError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: not a usable policy (a value contains itself)") from None
    return policy


def _parse(path: Path, raw: bytes) -> Any:
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not valid TOML: {exc}") from None
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise InputError(f"{path}: a policy file must end in .yaml, .yml or .toml")
    try:
        return yaml.load(raw, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        problem = getattr(exc, "problem", None)
        raise InputError(
            f"{path}: not valid YAML{line}{': ' + problem if problem else ''}"
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. expires: 2027-13-45, a recursive alias
        raise InputError(f"{path}: not a usable YAML value ({exc})") from None


class StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice (plain YAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark
                )
            keys.add(key)
        return super().construct_mapping(node, deep=deep)


def _dates_to_text(value: Any) -> Any:
    """YAML and TOML turn 2027-01-31 into a date; the policy keeps ISO text."""
    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _validate(policy: AuditPolicy, known: set[str]) -> None:
    if policy.version != POLICY_VERSION:
        raise ValueError(f"policy version {policy.version} is not supported (use {POLICY_VERSION})")
    for rule_id, rule in policy.rules.items():
        if rule_id not in known:
            raise ValueError(f"rules.{rule_id}: unknown rule id (see `vpc-audit rules`)")
        if rule.severity is not None and rule.severity.upper() not in Severity.__members__:
            raise ValueError(f"rules.{rule_id}.severity: {rule.severity!r} is not a severity")
    for account in policy.trusted.accounts:
        _check_account(account, "trusted.accounts")
    for org in policy.trusted.organization_ids:
        if not ORG_ID.fullmatch(org):
            raise ValueError(f"trusted.organization_ids: {org!r} is not an organisation id (o-…)")
    _check_pricing(policy.pricing)
    for i, s in enumerate(policy.suppressions):
        where = f"suppressions[{i}]"
        if s.rule != ANY_RULE and s.rule not in known:
            raise ValueError(f"{where}.rule: unknown rule id {s.rule!r}")
        if not s.reason.strip():
            raise ValueError(f"{where}.reason: a suppression needs a reason")
        if s.account is not None:
            _check_account(s.account, f"{where}.account")
        if s.expires is not None:
            try:
                dt.date.fromisoformat(s.expires)
            except ValueError:
                raise ValueError(
                    f"{where}.expires: {s.expires!r} is not a YYYY-MM-DD date"
                ) from None


MAX_PRICE_PER_GB = 10.0  # USD: AWS's data processing prices are cents per GB


def plausible_price(price: object) -> bool:
    """A finite number of USD per GB, 0 to MAX_PRICE_PER_GB (YAML's .nan, .inf or a 400-digit
    integer would make a report that is not JSON, or fail deep in the rules)."""
    if isinstance(price, bool) or not isinstance(price, int | float):
        return False
    try:
        value = float(price)
    except OverflowError:
        return False
    return math.isfinite(value) and 0 <= value <= MAX_PRICE_PER_GB


def _check_pricing(pricing: Pricing) -> None:
    for kind in PRICE_KINDS:
        for region, price in getattr(pricing, kind).items():
            where = f"pricing.{kind}.{region}"
            if not REGION.fullmatch(region):
                raise ValueError(f"{where}: {region!r} is not a region name (e.g. us-east-1)")
            if not plausible_price(price):
                raise ValueError(f"{where}: {price!r} is not a price in USD per GB (e.g. 0.045)")
    if pricing.as_of is not None:
        try:
            dt.date.fromisoformat(pricing.as_of)
        except ValueError:
            raise ValueError(f"pricing.as_of: {pricing.as_of!r} is not a YYYY-MM-DD date") from None


def _check_account(account: str, where: str) -> None:
    if not (account.isdigit() and len(account) == 12):
        raise ValueError(f"{where}: {account!r} is not a 12-digit account id")


@dataclass
class PolicyOutcome:
    """The findings with the policy applied, and what the suppressions did: those past their
    date, and those that matched nothing (a typo, or a fixed problem: the report says so)."""

    findings: list[Finding]
    expired: list[ExpiredSuppression]
    unmatched: list[Suppression]


def apply_policy(
    findings: list[Finding],
    snapshot: Snapshot,
    policy: AuditPolicy,
    today: dt.date,
    rules_run: Iterable[str] = (),
) -> PolicyOutcome:
    """Severity overrides and suppressions. Suppressed findings stay, marked, with the reason.

    A suppression of a rule that did not run (`rules_run`) is not called unmatched: nothing
    could match it."""
    tags = resource_tags(snapshot) if policy.suppressions else {}
    expired = {id(s): ExpiredSuppression(s, []) for s in policy.suppressions if s.expired(today)}
    used: set[int] = set()
    out = []
    for finding in findings:
        severity = policy.severity(finding.rule_id)
        if severity is not None:
            finding = dataclasses.replace(finding, severity=severity)
        if not policy.suppressions:  # the usual run: no tag look-ups for tens of thousands
            out.append(finding)
            continue
        own_tags = {**tags.get(finding.vpc_id or "", {}), **tags.get(finding.resource_id, {})}
        for s in policy.suppressions:
            if not s.matches(finding, own_tags):
                continue
            used.add(id(s))
            if id(s) in expired:
                expired[id(s)].finding_ids.append(finding.id)
                continue
            finding = dataclasses.replace(
                finding, suppressed=True, suppression_reason=s.reason, suppression_expires=s.expires
            )
            break
        out.append(finding)
    ran = set(rules_run)
    unmatched = [
        s
        for s in policy.suppressions
        if id(s) not in used and id(s) not in expired and (s.rule == ANY_RULE or s.rule in ran)
    ]
    return PolicyOutcome(out, list(expired.values()), unmatched)


def resource_tags(snapshot: Snapshot) -> dict[str, dict[str, str]]:
    """Tags of every tagged resource by id, for tag-scoped suppressions."""
    index: dict[str, dict[str, str]] = {}
    for f in dataclasses.fields(snapshot):
        items = getattr(snapshot, f.name)
        if isinstance(items, list):
            for item in items:
                if isinstance(getattr(item, "tags", None), dict):
                    index[item.id] = item.tags
    return index
