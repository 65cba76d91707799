"""Tests never reach real AWS: dummy credentials everywhere, moto as the only endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from auditor.collect import metrics
from tests.faults import FaultServer

os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
# The CLI reads in one process unless a test asks for more (tests/test_processes.py): what forked
# workers record (a test's call logs, their stderr) does not come back to the test's process.
os.environ["VPC_AUDIT_PROCESSES"] = "1"


@pytest.fixture(autouse=True)
def dummy_aws_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("aws") / "none"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never probe instance metadata
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))


# Audits that a test compares (shards against a single run, a faulty run against its baseline)
# must ask CloudWatch for the same period, which ends on the last full hour: one clock for the
# whole session, so that a run crossing the hour does not change the findings' cost evidence.
SESSION_NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def one_metrics_period(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metrics.period
    monkeypatch.setattr(metrics, "period", lambda now=None: real(now or SESSION_NOW))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[FaultServer]:
    with FaultServer() as server:  # answering in AWS's shapes (auditor.moto_shapes)
        yield server


@pytest.fixture
def aws(moto_server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    """A wiped moto server that every boto3 client in the test reaches via AWS_ENDPOINT_URL;
    a fault hook or latency a test sets is removed after it."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    yield moto_server
    moto_server.faults = None
    moto_server.latency = 0.0
