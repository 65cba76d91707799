"""Email the report: a MIME message (summary in HTML and plain text, the full report attached)
sent through SMTP or Amazon SES (SendRawEmail). Standard library only for the mail itself.

The message stays under the providers' size limits: SES's SendRawEmail (v1 API) takes at most
10 MB per raw message after base64 encoding, and Postfix's default `message_size_limit` is
10,240,000 bytes. `MAX_MESSAGE_BYTES` (9 MB, encoded) leaves room for the headers a relay adds.
When the message with the report attached is larger, the attachments are gzip-compressed; when
even that is too large, the message goes without them and says where the reports were written.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.report.text import header_safe

if TYPE_CHECKING:
    from email.message import EmailMessage

    import boto3

    from auditor.report.document import Report
    from auditor.report.email_body import EmailContext

# The mail itself (smtplib, email, the templates, css_inline, boto3 for SES) is imported where
# it is used: most runs send no email, and these cost ~60 ms of every start-up.

PASSWORD_ENV = "VPC_AUDIT_SMTP_PASSWORD"
MAX_MESSAGE_BYTES = 9_000_000
SES_ALLOWED = frozenset({"ses:SendRawEmail"})
TLS_MODES = ("auto", "starttls", "ssl", "off")
EMAIL_ON = ("always", "findings", "new")
HTML_NAME = "vpc-audit-report.html"
JSON_NAME = "vpc-audit-report.json"
SMTP_TIMEOUT = 60


class EmailError(Exception):
    """The report email could not be sent; the message is one line, without secrets."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str = "auto"
    user: str | None = None


@dataclass(frozen=True)
class SesSettings:
    region: str
    profile: str | None = None


@dataclass(frozen=True)
class EmailSettings:
    recipients: tuple[str, ...]
    sender: str
    on: str = "always"
    attach_json: bool = False
    smtp: SmtpSettings | None = None
    ses: SesSettings | None = None

    def transport(self) -> str:
        if self.smtp is not None:
            return f"SMTP {self.smtp.host}:{self.smtp.port}"
        assert self.ses is not None
        return f"SES {self.ses.region}"


def default_port(tls: str) -> int:
    return 465 if tls == "ssl" else 587


def valid_address(address: str) -> bool:
    """One address, no header tricks: no control characters, a local part and a domain."""
    from email.utils import parseaddr

    if header_safe(address, limit=320) != address.strip():
        return False
    _, bare = parseaddr(address)
    local, _, domain = bare.rpartition("@")
    return bool(local and domain and "," not in bare)


def bare_address(address: str) -> str:
    from email.utils import parseaddr

    return parseaddr(address)[1]


def should_send(report: Report, on: str) -> bool:
    """`always`; `findings`: a finding (not suppressed) or a coverage gap; `new`: a new finding
    or a coverage gap (an incomplete audit is always worth a message)."""
    gaps = report.summary.coverage.error > 0
    if on == "findings":
        return report.summary.total > 0 or gaps
    if on == "new":
        return bool(report.new_findings()) or gaps
    return True


def build_message(
    report: Report,
    *,
    sender: str,
    recipients: Sequence[str],
    scope: str,
    html_report: str,
    json_report: str | None = None,
    locations: Sequence[str] = (),
    limit: int | None = None,
) -> EmailMessage:
    """The message with the reports attached as they are, gzip-compressed, or not at all:
    the first that fits in `limit` bytes (default MAX_MESSAGE_BYTES) once encoded."""
    import gzip
    from email import policy
    from email.message import EmailMessage

    from auditor.report.email_body import Attachment, EmailContext

    limit = MAX_MESSAGE_BYTES if limit is None else limit
    files = [(HTML_NAME, html_report.encode(), "text", "html")]
    if json_report is not None:
        files.append((JSON_NAME, json_report.encode(), "application", "json"))
    message = EmailMessage()
    for mode in ("attached", "gzip", "omitted"):
        if mode == "gzip":
            files = [
                (f"{name}.gz", gzip.compress(data, mtime=0), "application", "gzip")
                for name, data, _, _ in files
            ]
        elif mode == "omitted":
            files = []
        attachment = Attachment(mode, tuple(f[0] for f in files), tuple(locations), limit)
        message = compose(EmailContext(report, scope, attachment), sender, recipients, files)
        if len(message.as_bytes(policy=policy.SMTP)) <= limit:
            break
    return message


def compose(
    context: EmailContext,
    sender: str,
    recipients: Sequence[str],
    files: list[tuple[str, bytes, str, str]],
) -> EmailMessage:
    from email import policy
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    from auditor.report.email_body import email_subject, render_email_html, render_email_text

    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = email_subject(context.report, context.scope)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid("vpc-audit", domain=bare_address(sender).rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(render_email_text(context))
    message.add_alternative(render_email_html(context), subtype="html")
    for name, data, maintype, subtype in files:
        # As bytes (base64): the file arrives exactly as written, line endings included.
        params = {"charset": "utf-8"} if maintype == "text" else None
        message.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=name, params=params
        )
    return message


def send_smtp(message: EmailMessage, settings: EmailSettings, password: str | None = None) -> None:
    """Send through SMTP: TLS as --smtp-tls says; log in only when a user is given."""
    import smtplib
    import ssl

    smtp = settings.smtp
    assert smtp is not None
    where = f"{smtp.host}:{smtp.port}"
    context = ssl.create_default_context()
    try:
        server: smtplib.SMTP
        if smtp.tls == "ssl":
            server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=SMTP_TIMEOUT, context=context)
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT)
        with server:
            server.ehlo()
            if smtp.tls in ("auto", "starttls"):
                if server.has_extn("starttls"):
                    server.starttls(context=context)
                    server.ehlo()
                elif smtp.tls == "starttls":
                    raise EmailError(
                        f"SMTP server {where} does not offer STARTTLS (--smtp-tls starttls requires it)"
                    )
                elif smtp.user:
                    raise EmailError(
                        f"SMTP server {where} does not offer STARTTLS: refusing to send the "
                        "password unencrypted (--smtp-tls off would allow it)"
                    )
            if smtp.user:
                server.login(smtp.user, password or "")
            refused = server.send_message(
                message,
                from_addr=bare_address(settings.sender),
                to_addrs=[bare_address(r) for r in settings.recipients],
            )
    except EmailError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailError(redact(f"SMTP {where}: {describe(exc)}", password)) from None
    if refused:
        raise EmailError(f"SMTP {where} refused recipient(s): {', '.join(sorted(refused))}")


def describe(exc: BaseException) -> str:
    import smtplib

    if isinstance(exc, smtplib.SMTPResponseException):
        detail = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{type(exc).__name__} {exc.smtp_code}: {' '.join(detail.split())}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def send_ses(message: EmailMessage, settings: EmailSettings, session: boto3.Session) -> str:
    """SendRawEmail with the given session; the client may make that one call and no other."""
    from email import policy

    import botocore.exceptions

    from auditor.collect.sessions import client, one_line

    ses_settings = settings.ses
    assert ses_settings is not None
    ses = client(session, "ses", ses_settings.region, allowed=SES_ALLOWED)
    try:
        reply = ses.send_raw_email(
            Source=bare_address(settings.sender),
            Destinations=[bare_address(r) for r in settings.recipients],
            RawMessage={"Data": message.as_bytes(policy=policy.SMTP)},
        )
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise EmailError(f"SES {ses_settings.region}: {one_line(exc)}") from None
    return str(reply.get("MessageId", ""))


def send(
    message: EmailMessage,
    settings: EmailSettings,
    *,
    password: str | None = None,
    session: boto3.Session | None = None,
) -> None:
    if settings.smtp is not None:
        send_smtp(message, settings, password)
    else:
        assert session is not None
        send_ses(message, settings, session)
