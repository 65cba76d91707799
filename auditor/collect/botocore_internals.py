"""The one place vpc-audit touches botocore's private internals, to share between clients what
botocore builds anew for each one.

vpc-audit makes a client per account-region, thousands in an organisation, and botocore builds
each from scratch: the client class (for EC2's 700-odd operations, about 15 ms of CPU), a
service model whose caches of resolved shapes start empty, and an event emitter whose cache of
aliased event names starts empty (each of a call's ~20 event names is then checked against
botocore's ~60 aliases, once per client: 0.2 ms a call). Shared per process, measured with
benchmarks/collect.py (40 accounts x 4 regions x 5 VPCs, 50 ms, default workers, medians of 6
to 7 paired runs on 2 cores), the model and class cut the collector's CPU by 28 % (15.1 to
10.9 s), the event names by a further 12 % (10.4 to 9.1 s): with both, 9.4 s instead of 14.7 s,
1.9 ms a call instead of 3.0, and the run's wall time 9.5 s instead of 10.9 s.

The collector applies it (sessions.base_session and sessions.client), not an import. Turn it
off with the environment variable VPC_AUDIT_NO_BOTOCORE_SHARING=1 (if a botocore release breaks
it); tests/test_botocore_internals.py fails when the installed botocore no longer has what this
patches. The model and class depend only on the service's JSON, kept per loader (every session
of a run shares the base session's, weakly: they go with it); event names alias the same way in
every emitter of botocore's. A client already shares all three between its threads, so sharing
them between clients is as thread-safe as botocore is.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Any

import botocore.client
import botocore.hooks

log = logging.getLogger(__name__)

SWITCH = "VPC_AUDIT_NO_BOTOCORE_SHARING"
# botocore's own methods, as found at import: the ones sharing wraps and turning it off restores.
_CREATOR = botocore.client.ClientCreator
_LOAD_MODEL = getattr(_CREATOR, "_load_service_model", None)
_MAKE_CLASS = getattr(_CREATOR, "_create_client_class", None)
# Per loader: each service's model, and each model's class.
_PARTS: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()
# Event names as aliased by botocore's emitters, for every client's to share.
_ALIASED: dict[str, str] = {}
_sharing = False


def wanted() -> bool:
    """Whether the environment leaves sharing on (VPC_AUDIT_NO_BOTOCORE_SHARING unset or 0)."""
    return os.environ.get(SWITCH, "0") in ("", "0")


def share_client_parts(enabled: bool) -> bool:
    """Share each service's model and client class, and (see share_event_names) the aliased
    event names, between clients (`enabled`), or build them per client as botocore does.
    Returns whether they are now shared: not if this botocore lacks the methods wrapped, which
    is logged (only speed is lost)."""
    global _sharing
    if _LOAD_MODEL is None or _MAKE_CLASS is None:
        if enabled:
            log.warning("botocore has changed: clients do not share their models (slower)")
        enabled = False
    elif enabled:
        _CREATOR._load_service_model = _shared_model  # type: ignore[attr-defined]
        _CREATOR._create_client_class = _shared_class  # type: ignore[attr-defined]
    else:
        _CREATOR._load_service_model = _LOAD_MODEL  # type: ignore[attr-defined]
        _CREATOR._create_client_class = _MAKE_CLASS  # type: ignore[attr-defined]
    _sharing = enabled
    return enabled


def share_event_names(made: Any) -> None:
    """Give the client `made` the process's cache of aliased event names, if sharing is on."""
    events = made.meta.events
    if _sharing and isinstance(events, botocore.hooks.EventAliaser):
        events._alias_name_cache = _ALIASED  # type: ignore[attr-defined]


def _shared_model(creator: Any, service_name: str, api_version: str | None = None) -> Any:
    per_loader = _PARTS.setdefault(creator._loader, {})
    key = (service_name, api_version)
    if key not in per_loader:
        per_loader[key] = _LOAD_MODEL(creator, service_name, api_version)  # type: ignore[misc]
    return per_loader[key]


def _shared_class(creator: Any, service_name: str, service_model: Any) -> type:
    per_loader = _PARTS.setdefault(creator._loader, {})
    key = ("class", service_name, id(service_model))
    model, cls = per_loader.get(key, (None, None))
    if model is not service_model:  # not a shared model (or an id reused): build and keep it
        cls = _MAKE_CLASS(creator, service_name, service_model)  # type: ignore[misc]
        per_loader[key] = (service_model, cls)
    return cls  # type: ignore[no-any-return]
