"""Credentials and targets: who we are, which accounts and regions to read, and how to reach them.

Everything goes through boto3's own resolution (profiles, SSO, env vars, AWS_ENDPOINT_URL);
we only add assume-role into member accounts, with credentials that refresh themselves.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
from botocore.parsers import ResponseParserError

from auditor.collect import botocore_internals
from auditor.errors import AuditError
from auditor.model import CoverageNote

log = logging.getLogger(__name__)

DEFAULT_ORG_ROLE = "OrganizationAccountAccessRole"
SESSION_NAME = "vpc-audit"
HOME_REGION = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}
ENABLED_OPT_IN = {"opt-in-not-required", "opted-in"}

# Adaptive mode backs off client-side when EC2 throttles an account-region (one client per
# account-region, so one rate limiter each) and retries throttling, 5xx, connection resets and
# timeouts by itself (tests/test_faults.py). `max_attempts` counts retries: 11 attempts in all.
# The read timeout bounds a stalled connection; 30 s leaves room for large describe pages.
CLIENT_CONNECTIONS = 16  # per client: an account-region's client has at most REGION_FANOUT threads
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    connect_timeout=10,
    read_timeout=30,
    max_pool_connections=CLIENT_CONNECTIONS,
)

_client_lock = threading.Lock()
# The data loader of each base session (base_session's), for its accounts' sessions to share.
_LOADERS: weakref.WeakKeyDictionary[boto3.Session, Any] = weakref.WeakKeyDictionary()

# EC2 throttles each account in each region with token buckets. For non-mutating (Describe*)
# actions a bucket holds 100 requests and refills at 20 per second (the current documentation
# gives each API its own bucket of that size; earlier versions one bucket for all Describe*
# calls): https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
# The account's own tools (autoscalers, Terraform, the console) draw from the same buckets, so
# vpc-audit keeps to half of the stricter reading: each account-region's client sends at most
# 10 requests per second once a burst of 50 is spent. A typical account-region needs fewer than
# 50 calls, so only large ones ever wait; if EC2 throttles anyway, adaptive retries back off.
EC2_REQUEST_RATE = 10.0
EC2_REQUEST_BURST = 50

# Every AWS operation vpc-audit may call, as IAM actions. Anything else is refused before the
# request is signed: the tool is read-only by construction, not by convention.
READ_ONLY_OPERATIONS = frozenset(
    {
        "sts:GetCallerIdentity",
        "sts:AssumeRole",
        "organizations:ListAccounts",
        "organizations:DescribeOrganization",
        "ec2:DescribeRegions",
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeSubnets",
        "ec2:DescribeRouteTables",
        "ec2:DescribeNatGateways",
        "ec2:DescribeInternetGateways",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeVpcEndpointServiceConfigurations",
        "ec2:DescribeVpcEndpointServicePermissions",
        "ec2:DescribeVpcPeeringConnections",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeStaleSecurityGroups",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeFlowLogs",
        "ec2:DescribeTransitGateways",
        "ec2:DescribeTransitGatewayAttachments",
        "ec2:DescribeTransitGatewayVpcAttachments",
        "ec2:DescribeTransitGatewayPeeringAttachments",
        "ec2:DescribeTransitGatewayRouteTables",
        "ec2:SearchTransitGatewayRoutes",
        "ec2:DescribeVpcEndpointServices",
        "ram:GetResourceShareAssociations",
        "ec2:DescribePrefixLists",
        "ec2:GetManagedPrefixListEntries",
        "cloudwatch:GetMetricData",
    }
)
# IAM's service prefix where it differs from the signing name (CloudWatch signs as monitoring).
IAM_PREFIXES = {"monitoring": "cloudwatch"}


# What a read may meet without the run stopping (moto raises NotImplementedError in-process;
# a server that does not implement an API answers HTML that botocore cannot parse).
AWS_FAILURES = (
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
    ResponseParserError,
    NotImplementedError,
)


class ReadOnlyViolation(AuditError):
    """A call outside READ_ONLY_OPERATIONS was attempted: a bug, stopped before it left."""


def iam_action(model: Any) -> str:
    signing = model.service_model.signing_name
    return f"{IAM_PREFIXES.get(signing, signing)}:{model.name}"


def allow_only(allowed: frozenset[str]) -> Any:
    def refuse_unlisted(model: Any, **_: Any) -> None:
        action = iam_action(model)
        if action not in allowed:
            raise ReadOnlyViolation(f"refused {action}: vpc-audit only makes read-only calls")

    return refuse_unlisted


def client(
    session: boto3.Session,
    service: str,
    region: str,
    allowed: frozenset[str] = READ_ONLY_OPERATIONS,
    connections: int | None = None,
) -> Any:
    """A client that can only make the read-only calls vpc-audit needs (or, for the one
    client that sends the report by SES, exactly the `allowed` operations); `connections`
    for a client that more threads share than CLIENT_CONFIG's pool holds.

    Creation takes a lock: boto3 sessions are not thread-safe while creating clients.
    """
    config = CLIENT_CONFIG
    if connections is not None and connections > CLIENT_CONNECTIONS:
        config = CLIENT_CONFIG.merge(Config(max_pool_connections=connections))
    with _client_lock:
        made = session.client(service, region_name=region, config=config)  # type: ignore[call-overload]
    botocore_internals.share_event_names(made)
    made.meta.events.register("before-call.*.*", allow_only(allowed))
    made.meta.events.register("after-call-error.*.*", name_failed_operation)
    return made


class RequestRate:
    """A client-side token bucket: `rate` requests per second after a burst of `burst`.

    Registered on a client's `before-send` event, so every HTTP attempt (retries included)
    takes a token; a caller that finds the bucket empty sleeps until its token is due. Callers
    reserve tokens in turn, so concurrent threads of one client queue fairly.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is due; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def __call__(self, **_: Any) -> None:
        self.acquire()  # returning anything else than None would replace the request


def limit_rate(made: Any, rate: float = EC2_REQUEST_RATE, burst: int = EC2_REQUEST_BURST) -> Any:
    """Make `made` (one account-region's client) keep to `rate` requests per second."""
    service = made.meta.service_model.service_id.hyphenize()
    made.meta.events.register(f"before-send.{service}.*", RequestRate(rate, burst))
    return made


def name_failed_operation(exception: BaseException | None = None, **kwargs: Any) -> None:
    """Tag an exception raised below the API layer with the operation that raised it.

    ClientError carries `operation_name`; ResponseParserError, connection errors and timeouts
    (raised once botocore's retries are spent) do not, so a coverage reason would not say which
    API failed. They get the same attribute here (the event is `after-call-error.<svc>.<Op>`).
    """
    event_name = str(kwargs.get("event_name", ""))
    if exception is not None and not hasattr(exception, "operation_name") and event_name:
        setattr(exception, "operation_name", event_name.rsplit(".", 1)[-1])  # noqa: B010


@dataclass(frozen=True)
class Identity:
    account_id: str
    arn: str
    partition: str
    home_region: str


def base_session(profile: str | None) -> boto3.Session:
    """The session of the base credentials; every account's session shares its data loader.

    Also where the collector makes clients share their service models (botocore_internals),
    unless VPC_AUDIT_NO_BOTOCORE_SHARING=1."""
    botocore_internals.share_client_parts(botocore_internals.wanted())
    core = botocore.session.Session()
    try:
        session = boto3.Session(botocore_session=core, profile_name=profile)
    except botocore.exceptions.ProfileNotFound:
        # Exit 3 as the README's table says: the audit cannot run (like bad credentials).
        raise AuditError(
            f"unknown AWS profile {profile!r} (not in your AWS config files)"
        ) from None
    _LOADERS[session] = core.get_component("data_loader")
    return session


def sts_region(session: boto3.Session) -> str:
    """Where the base credentials' STS is asked: the configured region, else us-east-1."""
    return session.region_name or HOME_REGION["aws"]


@contextmanager
def base_credential_errors() -> Iterator[None]:
    """Failures of the base credentials (none found, a credential_process or SSO login that
    fails, a bad region) as one-line errors. botocore resolves the credentials when it makes
    the first client, and uses them with the first call."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError:
        raise AuditError(
            "no AWS credentials found (use --profile, or set the standard AWS_* variables)"
        ) from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise AuditError(f"cannot identify the base credentials: {one_line(exc)}") from None


def base_sts(session: boto3.Session, connections: int | None = None) -> Any:
    """The base credentials' STS client, for `connections` threads at once."""
    with base_credential_errors():
        return client(session, "sts", sts_region(session), connections=connections)


def identify(session: boto3.Session, sts: Any = None) -> Identity:
    """Who the base credentials are, asked through `sts` (base_sts's client, made if not
    given)."""
    if sts is None:
        sts = base_sts(session)
    with base_credential_errors():
        ident = sts.get_caller_identity()
    partition = ident["Arn"].split(":")[1]
    return Identity(
        ident["Account"],
        ident["Arn"],
        partition,
        session.region_name or HOME_REGION.get(partition, sts_region(session)),
    )


def preload_model(session: boto3.Session, service: str) -> None:
    """Parse `service`'s model and build its client class now, by making a client that is not
    used: before the collector forks, so that its processes do not each parse it again."""
    client(session, service, sts_region(session))


def org_accounts(session: boto3.Session, identity: Identity) -> list[str]:
    """ACTIVE accounts of the organisation, read with the base credentials."""
    org = client(session, "organizations", identity.home_region)
    try:
        accounts = [
            acct
            for page in org.get_paginator("list_accounts").paginate()
            for acct in page["Accounts"]
        ]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise AuditError(f"cannot list the organisation's accounts: {one_line(exc)}") from None
    return sorted(a["Id"] for a in accounts if (a.get("State") or a.get("Status")) == "ACTIVE")


def organization_id(
    session: boto3.Session, identity: Identity
) -> tuple[str | None, CoverageNote | None]:
    """The base account's organisation, if it has one and we may ask (the trust rules use
    it); when it could not be read, a coverage note (region "": it is account-wide) says so."""
    org = client(session, "organizations", identity.home_region)
    try:
        return str(org.describe_organization()["Organization"]["Id"]), None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        # No organisation at all: nothing to say.
        if error_code(exc) == "AWSOrganizationsNotInUseException":
            return None, None
        log.warning(
            "cannot read the organisation (%s): a policy condition naming it by "
            "aws:PrincipalOrgID counts as untrusted unless the audit policy lists it "
            "under trusted.organization_ids",
            one_line(exc),
        )
        return None, CoverageNote(identity.account_id, "", "organization", one_line(exc))


def assume_role_session(
    base: boto3.Session,
    profile: str | None,
    identity: Identity,
    account_id: str,
    role_name: str,
    external_id: str | None,
    sts: Any,
) -> boto3.Session:
    """A session in `account_id` whose credentials re-assume the role before they expire,
    through `sts`, the base session's STS client (one for all accounts: clients are costly).

    Assumes once eagerly so that a refused role becomes one coverage gap per account, up front.
    """
    role_arn = f"arn:{identity.partition}:iam::{account_id}:role/{role_name}"
    kwargs = {"RoleArn": role_arn, "RoleSessionName": SESSION_NAME}
    if external_id:
        kwargs["ExternalId"] = external_id

    def fetch() -> dict[str, str]:
        creds = sts.assume_role(**kwargs)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
    )
    # Same profile, so its config (region, endpoint, retries) still applies; only the keys differ.
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver([Provided(credentials)]))
    # Share the base session's loader and its cache of parsed service models: a new session
    # would parse the EC2 model again (about 0.25 s of CPU per account, under the client lock).
    core.register_component("data_loader", _LOADERS[base])
    return boto3.Session(botocore_session=core, profile_name=profile, region_name=base.region_name)


class Provided(CredentialProvider):
    """Credentials made beforehand, given to a botocore session as its only provider (botocore
    has no public setter for refreshable credentials)."""

    METHOD = "sts-assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self.credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self.credentials


def enabled_regions(session: boto3.Session, identity: Identity) -> list[str]:
    """Regions enabled for this account, in the credentials' partition.

    Filtered client-side: some endpoints ignore the opt-in filter and list other partitions.
    """
    ec2 = client(session, "ec2", identity.home_region)
    regions = ec2.describe_regions(AllRegions=True)["Regions"]
    found = []
    for region in regions:
        name = region["RegionName"]
        if region.get("OptInStatus", "opt-in-not-required") not in ENABLED_OPT_IN:
            continue
        if partition_of(session, name, identity.partition) != identity.partition:
            continue
        found.append(name)
    return sorted(found)


def partition_of(session: boto3.Session, region: str, asked: str) -> str:
    """The region's partition; a region newer than this botocore belongs to the partition that
    listed it (DescribeRegions answers for the caller's partition), rather than failing the
    whole account."""
    try:
        return str(session.get_partition_for_region(region))
    except botocore.exceptions.UnknownRegionError:
        return asked


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError; "" for any other failure."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def one_line(exc: BaseException) -> str:
    """A short, single-line description of an AWS error, for coverage records and messages.

    Names the failed operation whenever it is known (see name_failed_operation).
    """
    op = getattr(exc, "operation_name", None)
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "Error")
        message = err.get("Message", "")
        text = f"{code} on {op}: {message}" if message else f"{code} on {op}"
    elif isinstance(exc, NotImplementedError | ResponseParserError):
        text = (
            f"{type(exc).__name__} on {op}: API not available at this endpoint"
            if op
            else f"API not available at this endpoint ({type(exc).__name__})"
        )
    else:
        text = f"{type(exc).__name__} on {op}: {exc}" if op else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]
