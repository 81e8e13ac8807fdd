"""Deliver the outbox: e-mails leave after the transaction that wrote them, with retries."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import OutboxMessage

MAX_BACKOFF = timedelta(hours=1)


@dataclass
class DeliveryResult:
    """What one delivery round did."""

    sent: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """Return how long to wait before the next try: 1, 2, 4 … minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _email(message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_FROM"]
    email["To"] = message.recipient
    email["Subject"] = message.subject
    # A stable id lets mail servers drop a copy sent twice after a crash.
    email["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain="portal")
    email.set_content(message.body)
    return email


def _connect() -> smtplib.SMTP:
    config = current_app.config
    smtp = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT"])
    if config["SMTP_STARTTLS"]:
        smtp.starttls()
    if config["SMTP_USER"]:
        smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
    return smtp


def _next(session: Session, now: datetime) -> OutboxMessage | None:
    """Lock the oldest due message (skipping those another worker holds)."""
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()


def deliver(session: Session, now: datetime, limit: int = 200) -> DeliveryResult:
    """Send the due messages one by one, each committed as sent before the next is taken."""
    result = DeliveryResult()
    smtp: smtplib.SMTP | None = None
    try:
        while result.sent + result.failed < limit:
            message = _next(session, now)
            if message is None:
                break
            try:
                smtp = smtp or _connect()
                smtp.send_message(_email(message))
            except (OSError, smtplib.SMTPException) as error:
                _failed(message, now, error)
                session.commit()
                result.failed += 1
                break  # the server is down or refusing: try again next round
            message.sent_at = now
            message.attempts += 1
            session.commit()
            result.sent += 1
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    return result


def _failed(message: OutboxMessage, now: datetime, error: Exception) -> None:
    message.attempts += 1
    message.next_attempt_at = now + backoff(message.attempts)
    message.last_error = f"{type(error).__name__}: {error}"[:1000]
