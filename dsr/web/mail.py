"""Mail from the portal: one-time codes, links, letters.

:class:`SmtpMailer` sends over SMTP (``[mail]`` in ``dsr.toml``: host, port, STARTTLS or
implicit TLS, user name, the password from the environment variable the file names);
:class:`OutboxMailer` writes each message as an ``.eml`` file (mode 0600) into a folder, for
development and tests. Neither logs an address, a subject line or a body: a log line says a
message of a kind was sent, or that sending failed and why (the server's reply code).
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from dsr import log
from dsr.config import MailSettings
from dsr.errors import ConfigError, MailError

_log = log.get("dsr.web.mail")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    media_type: str


@dataclass(frozen=True)
class Mail:
    """A message to one person. ``kind`` names it in logs (``code``, ``status``, ``link``)."""

    to: str
    subject: str
    text: str
    kind: str
    attachments: tuple[Attachment, ...] = field(default=())


class Mailer(Protocol):
    def send(self, mail: Mail) -> None: ...


def _message(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip(">") or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(mail.text)
    for a in mail.attachments:
        main, _, sub = a.media_type.partition("/")
        msg.add_attachment(a.content, maintype=main, subtype=sub, filename=a.filename)
    return msg


class OutboxMailer:
    """Writes each message into ``folder`` as ``<time>-<random>.eml`` (0600), complete or not
    at all (written aside, then renamed)."""

    def __init__(self, folder: str | Path, sender: str = "privacy@localhost") -> None:
        self.folder = Path(folder)
        self.sender = sender

    def send(self, mail: Mail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        part = self.folder / f".{name}.part"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(_message(mail, self.sender)))
        os.replace(part, self.folder / name)  # a reader of the folder never sees half a mail
        log.log_step(_log, "mail", "mail written to the outbox", kind=mail.kind)


class SmtpMailer:
    """Sends over SMTP with the ``[mail]`` settings."""

    def __init__(self, settings: MailSettings) -> None:
        if settings.host is None:
            raise ConfigError("no SMTP host configured", where="[mail] host")
        if settings.sender is None:
            raise ConfigError("the sender address is missing", where="[mail] sender")
        self.settings = settings
        self.password = settings.password()

    def send(self, mail: Mail) -> None:
        s = self.settings
        assert s.host is not None and s.sender is not None
        context = ssl.create_default_context()
        try:
            if s.ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with smtp:
                if s.starttls and not s.ssl:
                    smtp.starttls(context=context)
                if s.username:
                    smtp.login(s.username, self.password or "")
                smtp.send_message(_message(mail, s.sender))
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"the mail server refused the message ({exc.smtp_code})", where="[mail]"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"the mail server could not be reached ({type(exc).__name__})", where="[mail]"
            ) from None
        log.log_step(_log, "mail", "mail sent", kind=mail.kind)


def mailer_from(settings: MailSettings) -> Mailer:
    """The outbox when one is configured, else SMTP."""
    if settings.outbox is not None:
        return OutboxMailer(settings.outbox, settings.sender or "privacy@localhost")
    if settings.host is None:
        raise ConfigError(
            "dsr serve sends mail: set [mail] host (SMTP) or [mail] outbox (a folder, for "
            "development) in dsr.toml",
            where="[mail]",
        )
    return SmtpMailer(settings)
