"""botocore_internals: what it patches must exist in the installed botocore (these tests fail,
not skip, when a botocore release changes it), sharing must share, and its switch turn it off."""

from __future__ import annotations

import gc
import inspect
import weakref
from collections.abc import Iterator
from typing import Any

import botocore.client
import botocore.hooks
import botocore.session
import pytest

from auditor.collect import botocore_internals

REGION = "us-east-1"
CREATOR = botocore.client.ClientCreator


@pytest.fixture(autouse=True)
def sharing_as_it_was() -> Iterator[None]:
    """Leave botocore as the test found it (another test, or the collector, may have shared)."""
    was_shared = CREATOR._load_service_model is not botocore_internals._LOAD_MODEL  # type: ignore[attr-defined]
    yield
    botocore_internals.share_client_parts(was_shared)


def parameters(function: object) -> list[str]:
    assert callable(function), function
    return list(inspect.signature(function).parameters)


def test_botocore_has_what_is_patched() -> None:
    assert botocore_internals._LOAD_MODEL is not None
    assert botocore_internals._MAKE_CLASS is not None
    assert parameters(botocore_internals._LOAD_MODEL) == ["self", "service_name", "api_version"]
    assert parameters(botocore_internals._MAKE_CLASS) == ["self", "service_name", "service_model"]
    # The parts are kept per loader: the creator's `_loader`, its first argument.
    assert parameters(CREATOR.__init__)[:2] == ["self", "loader"]
    loader = object()
    arguments: list[Any] = [loader, None, None, None, None, None]
    creator = CREATOR(*arguments)
    assert creator._loader is loader  # type: ignore[attr-defined]


def clients(service: str) -> tuple[object, object]:
    """Two clients of `service` from two sessions sharing one loader, as in an audit."""
    first = botocore.session.Session()
    second = botocore.session.Session()
    second.register_component("data_loader", first.get_component("data_loader"))
    return (
        first.create_client(service, region_name=REGION),
        second.create_client(service, region_name="eu-west-1"),
    )


def test_clients_of_a_service_share_its_model_and_class() -> None:
    assert botocore_internals.share_client_parts(True)
    made, again = clients("ec2")
    assert made.meta.service_model is again.meta.service_model  # type: ignore[attr-defined]
    assert type(made) is type(again)
    other, _ = clients("sts")
    assert other.meta.service_model.service_name == "sts"  # type: ignore[attr-defined]


def test_clients_share_their_aliased_event_names() -> None:
    assert isinstance(botocore_internals._ALIASED, dict)
    emitter = botocore.session.Session().create_client("sts", region_name=REGION).meta.events
    assert isinstance(emitter, botocore.hooks.EventAliaser)
    assert parameters(emitter._alias_event_name) == ["event_name"]  # type: ignore[attr-defined]
    assert isinstance(emitter._alias_name_cache, dict)  # type: ignore[attr-defined]
    botocore_internals.share_client_parts(True)
    made, again = clients("ec2")
    botocore_internals.share_event_names(made)
    botocore_internals.share_event_names(again)
    made.meta.events.emit("vpc-audit-test.ec2.DescribeVpcs")  # type: ignore[attr-defined]
    assert "vpc-audit-test.ec2.DescribeVpcs" in botocore_internals._ALIASED
    assert again.meta.events._alias_name_cache is botocore_internals._ALIASED  # type: ignore[attr-defined]


def test_shared_parts_go_with_their_loader() -> None:
    """Models and classes are kept per loader, not for the whole process: a long-lived process
    that audits again and again does not grow by a model per run."""
    botocore_internals.share_client_parts(True)
    made, again = clients("ec2")
    model = weakref.ref(made.meta.service_model)  # type: ignore[attr-defined]
    del made, again
    gc.collect()  # frees the sessions' loader, and with it the loader's entry
    gc.collect()  # then the model and class, which refer to each other
    assert model() is None


def test_the_switch_turns_sharing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    botocore_internals.share_client_parts(True)
    monkeypatch.setenv(botocore_internals.SWITCH, "1")
    assert not botocore_internals.wanted()
    assert not botocore_internals.share_client_parts(botocore_internals.wanted())
    made, again = clients("ec2")
    assert made.meta.service_model is not again.meta.service_model  # type: ignore[attr-defined]
    assert type(made) is not type(again)
    botocore_internals.share_event_names(made)
    assert made.meta.events._alias_name_cache is not botocore_internals._ALIASED  # type: ignore[attr-defined]
    monkeypatch.setenv(botocore_internals.SWITCH, "0")
    assert botocore_internals.wanted()
    monkeypatch.delenv(botocore_internals.SWITCH)
    assert botocore_internals.wanted()


def test_the_collector_applies_sharing_when_it_makes_its_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auditor.collect.sessions import base_session

    botocore_internals.share_client_parts(False)
    base_session(None)
    assert CREATOR._load_service_model is botocore_internals._shared_model  # type: ignore[attr-defined]
    monkeypatch.setenv(botocore_internals.SWITCH, "1")
    base_session(None)
    assert CREATOR._load_service_model is botocore_internals._LOAD_MODEL  # type: ignore[attr-defined]
