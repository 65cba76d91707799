"""A suppression that matches nothing (a typo, or a problem since fixed) is named, so a policy
does not silently stop meaning what its author thinks."""

from __future__ import annotations

import datetime as dt

from auditor.policy import AuditPolicy, RulePolicy, Suppression
from auditor.rules import evaluate
from tests.test_policy import TODAY, two_findings


def unmatched(*suppressions: Suppression, disabled: tuple[str, ...] = ()) -> list[Suppression]:
    policy = AuditPolicy(
        rules={r: RulePolicy(enabled=False) for r in disabled}, suppressions=list(suppressions)
    )
    return evaluate(two_findings(), policy, TODAY).unmatched_suppressions


def test_a_suppression_that_matches_a_finding_is_not_unmatched() -> None:
    assert unmatched(Suppression("s3-egress-via-nat", "accepted", resource="rtb-1")) == []


def test_a_typo_in_the_resource_is_named() -> None:
    typo = Suppression("s3-egress-via-nat", "accepted", resource="rtb-l")
    assert unmatched(typo) == [typo]


def test_a_wildcard_rule_that_matches_nothing_is_named() -> None:
    nothing = Suppression("*", "accepted", account="999999999999")
    assert unmatched(nothing) == [nothing]


def test_an_expired_suppression_is_reported_as_expired_not_unmatched() -> None:
    old = Suppression("s3-egress-via-nat", "accepted", expires="2026-01-01", resource="rtb-l")
    assert old.expired(TODAY)
    assert unmatched(old) == []


def test_a_suppression_of_a_rule_that_did_not_run_is_not_called_unmatched() -> None:
    off = Suppression("s3-egress-via-nat", "accepted", resource="rtb-l")
    assert unmatched(off, disabled=("s3-egress-via-nat",)) == []


def test_unmatched_does_not_depend_on_the_date() -> None:
    typo = Suppression("peering-pending-acceptance", "accepted", resource="pcx-2")
    policy = AuditPolicy(suppressions=[typo])
    later = evaluate(two_findings(), policy, TODAY + dt.timedelta(days=400))
    assert later.unmatched_suppressions == [typo]
