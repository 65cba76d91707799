"""Every rule's cases (policies/rules/cases/<rule-id>.yaml), run as data: the networks it reports
and those it does not. docs/rules.md shows the same cases as the rule's examples.

A case's network is a list of `{kind: fields}`:
- `vpc` (`cidrs`), `subnet` (`vpc_id`, `cidr`), `route_table` (`vpc_id`, `routes` as
  "DESTINATION TARGET" strings or `{to, via, ...Route fields}`, `subnets`, `main`) and `peering` (`requester` and `accepter` with
  `vpc_id`, `cidrs`, `account`, `dns`) are built with tests/builders.py;
- any other kind is the model class of that name (`nat_gateway` is NatGateway), its fields as
  in a snapshot; `account_id` and `region` default to account A in us-east-1.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from auditor import model
from auditor.model import RuleSettings, Snapshot
from auditor.rules import all_rules, run_rules
from auditor.rules.base import RuleCase
from auditor.serial import from_jsonable
from tests.builders import R1, A, peering, route, side, snapshot, subnet, table, vpc

CASES = [
    pytest.param(meta.id, case, id=f"{meta.id}: {verdict} {i}")
    for meta in all_rules()
    for verdict, cases in (("reported", meta.reported), ("not reported", meta.not_reported))
    for i, case in enumerate(cases, 1)
]


def test_every_rule_has_a_reported_and_a_not_reported_case() -> None:
    for meta in all_rules():
        assert meta.reported and meta.not_reported, meta.id
        assert all(c.finds for c in meta.reported), meta.id
        assert not any(c.finds for c in meta.not_reported), meta.id


@pytest.mark.parametrize(("rule_id", "case"), CASES)
def test_case(rule_id: str, case: RuleCase) -> None:
    snap = network(case)
    settings = RuleSettings(**{k: frozenset(v) for k, v in case.settings.items()})
    findings = run_rules(snap, only=[rule_id], settings=settings)
    assert sorted(f.resource_id for f in findings) == sorted(case.finds), case.case


def network(case: RuleCase) -> Snapshot:
    return snapshot(*(resource(item) for item in case.network), unaudited=case.unaudited)


def resource(item: dict[str, Any]) -> Any:
    ((kind, fields),) = item.items()
    fields = dict(fields)
    if kind == "vpc":
        built = vpc(fields.pop("id"), *fields.pop("cidrs", []))
        return dataclasses.replace(built, **fields)  # its DNS attributes, set on by default
    if kind == "subnet":
        return subnet(fields.pop("id"), fields.pop("vpc_id"), fields.pop("cidr"), **fields)
    if kind == "route_table":
        routes = [
            route(*r.split()) if isinstance(r, str) else route(r.pop("to"), r.pop("via"), **r)
            for r in map(lambda r: dict(r) if isinstance(r, dict) else r, fields.pop("routes", []))
        ]
        subnets = tuple(fields.pop("subnets", ()))
        return table(fields.pop("id"), fields.pop("vpc_id"), *routes, subnets=subnets, **fields)
    if kind == "peering":
        ends = [
            side(f.pop("vpc_id"), *f.pop("cidrs", []), **f)
            for f in (dict(fields.pop("requester")), dict(fields.pop("accepter")))
        ]
        return peering(fields.pop("id"), *ends, **fields)
    cls = getattr(model, "".join(part.title() for part in kind.split("_")))
    names = {f.name for f in dataclasses.fields(cls)}
    defaults = {"account_id": A, "region": R1}
    return from_jsonable(cls, {**{k: v for k, v in defaults.items() if k in names}, **fields})
