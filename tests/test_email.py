"""The report email, delivered to real SMTP servers started here (aiosmtpd) and to SES in the
moto server, then parsed back with the standard `email` package."""

from __future__ import annotations

import datetime as dt
import email
import gzip
import ipaddress
import json
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditor.cli import main
from auditor.collect.sessions import ReadOnlyViolation, client
from auditor.deliver.email import PASSWORD_ENV, SES_ALLOWED
from auditor.serial import dumps
from tests.builders import A, snapshot
from tests.faults import FaultServer
from tests.test_baseline import nat_vpc, open_ssh

TO = ("ops@example.com", "sec@example.com")
FROM = "vpc-audit@example.com"
PASSWORD = "pa55-W0rd-never-printed"
EVIL = 'evil\r\nBcc: victim@example.com\r\n<script>alert(1)</script>" onmouseover="x'


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


# --- a real SMTP server, in a thread ---


@dataclass
class Mailbox:
    port: int
    received: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope)
        self.encrypted.append(session.ssl is not None)  # set by aiosmtpd after STARTTLS
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        ok = (login, password) == ("alice", PASSWORD)
        return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.received]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(**options: Any) -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    if "authenticator" in options:
        options["authenticator"] = box.authenticate
    controller = Controller(box, hostname="127.0.0.1", port=box.port, **options)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1; clients trust it through SSL_CERT_FILE."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


# --- helpers ---


def write_snapshot(path: Path, *extra: Any, name: str = "prod") -> Path:
    """Findings: two medium (S3 and DynamoDB through NAT) and, with open_ssh(), one high."""
    resources = nat_vpc(1)
    resources[1].tags = {"Name": name}
    path.write_text(dumps(snapshot(*resources, *extra)))
    return path


def mail_args(port: int, *extra: str) -> list[str]:
    args = ["--email-from", FROM, "--smtp-host", "127.0.0.1", "--smtp-port", str(port)]
    for address in TO:
        args += ["--email-to", address]
    return [*args, *extra]


def audit(tmp_path: Path, snap: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return run(
        "--from-snapshot",
        str(snap),
        "--html",
        str(tmp_path / "r.html"),
        "--json",
        str(tmp_path / "r.json"),
        *args,
        env=env,
    )


def attachments(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    found = {}
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[str(part.get_filename())] = (part.get_content_type(), payload)
    return found


class Tags(HTMLParser):
    """Every element, attribute name and text of an HTML document, as a browser parses it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: set[str] = set()
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text += data


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


# --- SMTP ---


def test_report_email_over_smtp(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "s.json", open_ssh())
    with smtp_server() as box:  # no STARTTLS offered: auto sends in clear
        result = audit(tmp_path, snap, *mail_args(box.port, "--email-attach-json"))
    assert result.exit_code == 1, result.stderr
    assert box.encrypted == [False]
    assert f"email: sent to {', '.join(TO)} via SMTP 127.0.0.1:{box.port}" in result.stderr
    (envelope,) = box.received
    assert envelope.mail_from == FROM and envelope.rcpt_tos == list(TO)
    (message,) = box.messages()
    assert message["Subject"] == f"vpc-audit {A}: 1 high, 2 medium"
    assert message["From"] == FROM and message["To"] == ", ".join(TO)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/mixed"

    text, html = bodies(message)
    report = json.loads((tmp_path / "r.json").read_text())
    for finding in report["findings"]:
        assert finding["title"] in text and finding["resource_id"] in text
        assert finding["title"] in html and finding["resource_id"] in html
    assert "The full report is attached: vpc-audit-report.html, vpc-audit-report.json" in text
    # CSS inlined for mail clients; no stylesheet and no script survive.
    assert "<style" not in html and "<script" not in html and 'style="' in html
    assert "<table" in html

    files = attachments(message)
    assert files["vpc-audit-report.html"] == (
        "text/html",
        (tmp_path / "r.html").read_bytes(),
    )
    kind, data = files["vpc-audit-report.json"]
    assert kind == "application/json"
    assert json.loads(data) == report


def test_required_starttls_not_offered_fails_after_writing_reports(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "s.json")
    state = tmp_path / "state"
    with smtp_server() as box:
        result = audit(
            tmp_path,
            snap,
            *mail_args(box.port, "--smtp-tls", "starttls"),
            "--state-dir",
            str(state),
        )
    assert result.exit_code == 6
    assert box.received == []
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        f"vpc-audit: error: cannot send the report email: SMTP server 127.0.0.1:{box.port} "
        "does not offer STARTTLS (--smtp-tls starttls requires it)"
    ]
    assert (tmp_path / "r.html").exists() and (tmp_path / "r.json").exists()
    # The email did not go out: the state is not advanced, so the next run reports again.
    assert not (state / "last-report.json").exists()


def test_starttls_login_with_password_from_the_environment(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    snap = write_snapshot(tmp_path / "s.json")
    with smtp_server(
        tls_context=certificate.server_context(), authenticator=True, auth_require_tls=True
    ) as box:
        result = audit(
            tmp_path,
            snap,
            *mail_args(box.port, "--smtp-user", "alice", "--email-attach-json"),
            "--markdown",
            str(tmp_path / "r.md"),
            "--state-dir",
            str(tmp_path / "state"),
            "-v",
        )
    assert result.exit_code == 1, result.stderr
    assert box.logins == [("alice", PASSWORD)]  # AUTH is only offered after STARTTLS
    assert box.encrypted == [True]
    assert PASSWORD not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD.encode() not in box.received[0].content


def test_wrong_password_is_a_send_failure_that_does_not_echo_it(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    snap = write_snapshot(tmp_path / "s.json")
    with smtp_server(tls_context=certificate.server_context(), authenticator=True) as box:
        result = audit(tmp_path, snap, *mail_args(box.port, "--smtp-user", "alice"))
    assert result.exit_code == 6
    assert "SMTPAuthenticationError 535" in result.stderr
    assert PASSWORD not in result.stderr and box.received == []


def test_auto_tls_never_sends_the_password_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    snap = write_snapshot(tmp_path / "s.json")
    with smtp_server(authenticator=True, auth_require_tls=False) as box:
        result = audit(tmp_path, snap, *mail_args(box.port, "--smtp-user", "alice"))
    assert result.exit_code == 6
    assert "refusing to send the password unencrypted" in result.stderr
    assert box.logins == [] and box.received == []


def test_tls_off_never_starts_tls_even_when_offered(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    snap = write_snapshot(tmp_path / "s.json")
    with smtp_server(
        tls_context=certificate.server_context(), authenticator=True, auth_require_tls=False
    ) as box:
        result = audit(
            tmp_path, snap, *mail_args(box.port, "--smtp-tls", "off", "--smtp-user", "alice")
        )
    assert result.exit_code == 1, result.stderr
    assert box.logins == [("alice", PASSWORD)]  # the user asked for clear text
    assert box.encrypted == [False]


def test_auto_uses_starttls_when_offered(
    tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    snap = write_snapshot(tmp_path / "s.json")
    with smtp_server(tls_context=certificate.server_context()) as box:
        result = audit(tmp_path, snap, *mail_args(box.port))
    assert result.exit_code == 1, result.stderr
    assert box.encrypted == [True]


def test_smtps(tmp_path: Path, certificate: Certificate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    snap = write_snapshot(tmp_path / "s.json")
    with smtp_server(ssl_context=certificate.server_context()) as box:
        result = audit(tmp_path, snap, *mail_args(box.port, "--smtp-tls", "ssl"))
    assert result.exit_code == 1, result.stderr
    assert len(box.received) == 1


def test_untrusted_certificate_is_a_send_failure(tmp_path: Path, certificate: Certificate) -> None:
    snap = write_snapshot(tmp_path / "s.json")  # SSL_CERT_FILE not set: the cert is unknown
    with smtp_server(tls_context=certificate.server_context()) as box:
        result = audit(tmp_path, snap, *mail_args(box.port))
    assert result.exit_code == 6
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert box.received == []


def test_unreachable_server(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "s.json")
    result = audit(tmp_path, snap, *mail_args(free_port()))
    assert result.exit_code == 6
    assert "cannot send the report email: SMTP 127.0.0.1:" in result.stderr
    assert "ConnectionRefusedError" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "r.html").exists()


def test_large_report_is_gzipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = write_snapshot(tmp_path / "s.json")
    assert audit(tmp_path, snap).exit_code == 1
    size = (tmp_path / "r.html").stat().st_size
    # Attached as is, the (base64) report would not fit; gzip-compressed it does.
    monkeypatch.setattr("auditor.deliver.email.MAX_MESSAGE_BYTES", size)
    with smtp_server() as box:
        result = audit(tmp_path, snap, *mail_args(box.port))
    assert result.exit_code == 1, result.stderr
    (message,) = box.messages()
    assert len(message.as_bytes()) <= size
    ((name, (kind, data)),) = attachments(message).items()
    assert (name, kind) == ("vpc-audit-report.html.gz", "application/gzip")
    assert gzip.decompress(data) == (tmp_path / "r.html").read_bytes()
    text, html = bodies(message)
    assert "gzip-compressed" in text and "gzip-compressed" in html


def test_too_large_even_compressed_goes_without_attachment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("auditor.deliver.email.MAX_MESSAGE_BYTES", 1000)
    snap = write_snapshot(tmp_path / "s.json")
    with smtp_server() as box:
        result = audit(tmp_path, snap, *mail_args(box.port, "--email-attach-json"))
    assert result.exit_code == 1, result.stderr
    (message,) = box.messages()
    assert attachments(message) == {}
    text, html = bodies(message)
    where = str((tmp_path / "r.html").resolve())
    assert "too large to attach" in text and where in text
    assert where in html and str((tmp_path / "r.json").resolve()) in html


def test_hostile_names_are_neutralised(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "s.json", name=EVIL)
    data = json.loads(snap.read_text())
    data["scope"]["accounts"] = [f"{A}\r\nBcc: victim@example.com"]  # a hand-edited snapshot
    snap.write_text(json.dumps(data))
    with smtp_server() as box:
        result = audit(tmp_path, snap, *mail_args(box.port))
    assert result.exit_code == 1, result.stderr
    (envelope,) = box.received
    assert envelope.rcpt_tos == list(TO)
    (message,) = box.messages()
    assert message["Bcc"] is None
    subject = message["Subject"]
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith(f"vpc-audit {A} Bcc: victim@example.com: 2 medium")
    text, html = bodies(message)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The quote stays text (css-inline writes text quotes unescaped): no attribute came of it.
    tags = Tags()
    tags.feed(html)
    assert "script" not in tags.names
    assert not [a for a in tags.attributes if a.startswith("on")]
    assert '" onmouseover="x' in tags.text
    assert "evil Bcc: victim@example.com <script>alert(1)</script>" in text  # one line
    assert not any(line.startswith("Bcc:") for line in text.splitlines())


def test_email_on_findings_skips_a_quiet_night(tmp_path: Path) -> None:
    snap = tmp_path / "s.json"
    snap.write_text(dumps(snapshot(*nat_vpc(1)[1:3])))  # a VPC and a subnet, no NAT: clean
    with smtp_server() as box:
        result = audit(tmp_path, snap, *mail_args(box.port, "--email-on", "findings"))
    assert result.exit_code == 0, result.stderr
    assert box.received == []
    assert "email: not sent (--email-on findings: nothing to report)" in result.stderr


def test_email_on_new_with_state_dir(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    quiet_night = write_snapshot(tmp_path / "s1.json")
    with smtp_server() as box:
        args = mail_args(box.port, "--email-on", "new", *state)
        first = audit(tmp_path, quiet_night, *args)  # first run: everything is new
        second = audit(tmp_path, quiet_night, *args)  # nothing new: no message
        changed = write_snapshot(tmp_path / "s2.json", open_ssh())
        third = audit(tmp_path, changed, *args)
    assert [r.exit_code for r in (first, second, third)] == [1, 1, 1]
    first_message, third_message = box.messages()
    assert first_message["Subject"] == f"vpc-audit {A}: 2 medium, 2 new (first run)"
    # When the baseline was made, absolute: a weekday alone reads wrong for a run seconds old.
    since = json.loads((tmp_path / "state" / "last-report.json").read_text())["baseline"]
    made = dt.datetime.fromisoformat(since["generated_at"]).strftime("%Y-%m-%d %H:%M UTC")
    subject = third_message["Subject"].strip()  # a long subject is folded onto its own line
    assert subject == f"vpc-audit {A}: 1 high, 2 medium, 1 new since {made}"
    text, html = bodies(third_message)
    assert "1 new, 0 resolved" in text
    assert ">NEW<" in html


# --- SES ---


def ses_messages() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def test_report_email_through_ses(aws: FaultServer, tmp_path: Path) -> None:
    boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=FROM)
    snap = write_snapshot(tmp_path / "s.json")
    args = ["--email-from", FROM, "--email-to", TO[0], "--ses-region", "us-east-1"]
    result = audit(tmp_path, snap, *args)
    assert result.exit_code == 1, result.stderr
    assert f"email: sent to {TO[0]} via SES us-east-1" in result.stderr
    (sent,) = ses_messages()
    assert sent.source == FROM
    message = email.message_from_string(sent.raw_data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == f"vpc-audit {A}: 2 medium"
    assert attachments(message)["vpc-audit-report.html"][1] == (tmp_path / "r.html").read_bytes()
    assert aws.calls.get("ses:SendRawEmail") == 1


def test_ses_rejection_is_exit_6(aws: FaultServer, tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "s.json")  # the sender was never verified
    result = audit(
        tmp_path, snap, "--email-from", FROM, "--email-to", TO[0], "--ses-region", "us-east-1"
    )
    assert result.exit_code == 6
    assert "cannot send the report email: SES us-east-1: MessageRejected" in result.stderr
    assert ses_messages() == []
    assert (tmp_path / "r.html").exists()


def test_ses_client_may_only_send(aws: FaultServer) -> None:
    ses = client(boto3.Session(), "ses", "us-east-1", allowed=SES_ALLOWED)
    with pytest.raises(ReadOnlyViolation):
        ses.verify_email_identity(EmailAddress=FROM)


# --- options ---


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email-to", TO[0], "--smtp-host", "h"], "--email-to needs --email-from"),
        (["--smtp-host", "h"], "--smtp-host needs --email-to"),
        (["--email-on", "new"], "--email-on needs --email-to"),
        (["--email-to", TO[0], "--email-from", FROM], "needs --smtp-host or --ses-region"),
        (
            ["--email-to", TO[0], "--email-from", FROM, "--smtp-host", "h", "--ses-region", "r"],
            "either by --smtp-host or by --ses-region",
        ),
        (
            ["--email-to", TO[0], "--email-from", FROM, "--ses-region", "r", "--smtp-tls", "ssl"],
            "--smtp-tls needs --smtp-host",
        ),
        (
            ["--email-to", TO[0], "--email-from", FROM, "--smtp-host", "h", "--ses-profile", "p"],
            "--ses-profile needs --ses-region",
        ),
        (
            ["--email-to", "a@b.c\r\nBcc: x@y.z", "--email-from", FROM, "--smtp-host", "h"],
            "is not a valid email address",
        ),
        (["--email-to", "nobody", "--email-from", FROM, "--smtp-host", "h"], "not a valid email"),
        (
            ["--email-to", TO[0], "--email-from", FROM, "--smtp-host", "h", "--email-on", "new"],
            "--email-on new needs --baseline or --state-dir",
        ),
        (
            ["--email-to", TO[0], "--email-from", FROM, "--smtp-host", "h", "--smtp-user", "u"],
            f"--smtp-user needs the password in the environment variable {PASSWORD_ENV}",
        ),
        (["--smtp-password", "x"], "No such option"),
    ],
)
def test_email_usage_errors(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_help_names_the_password_variable_and_exit_code_6() -> None:
    result = run("--help")
    assert PASSWORD_ENV in result.stdout
    assert "6  the report email could not be sent" in result.stdout
