"""Deliver the outbox: e-mails leave after the transaction that wrote them, with retries.

The `outbox_message` table is the queue and the only truth. Where Redis is configured, a
commit that wrote messages also rings a doorbell (a Redis list) so that a waiting worker
delivers at once instead of at its next round; if Redis is down, nothing is lost, the
worker's regular round still finds every message.
"""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import redis
from flask import current_app, has_app_context
from sqlalchemy import ColumnElement, event, func, select, update
from sqlalchemy.orm import Session

from portal.models import OutboxMessage, User
from portal.services import audit

MAX_BACKOFF = timedelta(hours=1)
# Marks a failure of the server as a whole (down, refusing connections, 421), not of one message.
UNAVAILABLE = "server unavailable: "
DOORBELL = "portal:outbox:doorbell"
PENDING = "portal_outbox_pending"
log = logging.getLogger(__name__)


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
            if result.sent == 0:
                _wake_held_back(session, now)
            session.commit()
            result.sent += 1
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    return result


def server_unavailable(error: Exception) -> bool:
    """Tell whether a sending error is the server's as a whole rather than one message's."""
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code == 421:
        return True
    whole = (
        smtplib.SMTPConnectError,
        smtplib.SMTPServerDisconnected,
        smtplib.SMTPHeloError,
        smtplib.SMTPNotSupportedError,
    )
    if isinstance(error, whole):
        return True
    # SMTP refusals are OSErrors too: only a failure below SMTP (refused, timed out) is left.
    return isinstance(error, OSError) and not isinstance(error, smtplib.SMTPException)


def _failed(message: OutboxMessage, now: datetime, error: Exception) -> None:
    message.attempts += 1
    message.next_attempt_at = now + backoff(message.attempts)
    prefix = UNAVAILABLE if server_unavailable(error) else ""
    message.last_error = f"{prefix}{type(error).__name__}: {error}"[:1000]


def _wake_held_back(session: Session, now: datetime) -> None:
    """The server took a message: those waiting out a back-off only because it was down are
    due at once, instead of up to an hour after it came back."""
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.next_attempt_at > now,
            OutboxMessage.last_error.startswith(UNAVAILABLE),
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


def _redis() -> redis.Redis | None:
    if not has_app_context() or not current_app.config.get("REDIS_URL"):
        return None
    clients = current_app.extensions.setdefault("outbox_redis", {})
    if "client" not in clients:
        # Short timeouts: ringing happens right after a request's commit.
        clients["client"] = redis.Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=2
        )
    return clients["client"]


def ring() -> bool:
    """Tell a waiting worker there is mail; return whether the doorbell was rung."""
    client = _redis()
    if client is None:
        return False
    try:
        client.pipeline().lpush(DOORBELL, 1).ltrim(DOORBELL, 0, 99).execute()
    except redis.RedisError as error:
        log.warning("outbox doorbell not rung (the next round delivers): %s", error)
        return False
    return True


def wait_for_mail(interval: float) -> bool:
    """Wait until a commit rings the doorbell or the interval passes; return whether it rang."""
    client = _redis()
    if client is not None:
        try:
            rang = client.blpop([DOORBELL], timeout=max(1, round(interval))) is not None
            client.delete(DOORBELL)  # one round delivers everything that rang meanwhile
            return rang
        except redis.RedisError as error:
            log.warning("outbox doorbell unavailable, polling: %s", error)
    time.sleep(interval)
    return False


@event.listens_for(Session, "after_flush")
def _note_messages(session: Session, context: object) -> None:
    if any(isinstance(item, OutboxMessage) for item in session.new):
        session.info[PENDING] = True


@event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    if session.info.pop(PENDING, False):
        ring()


@event.listens_for(Session, "after_soft_rollback")
def _forget_messages(session: Session, previous_transaction: object) -> None:
    session.info.pop(PENDING, None)


# What the outbox page lists: waiting for their first try, failed at least once and still
# to be retried, or sent.
STATUSES = ("queued", "failed", "sent")


def status_filter(status: str) -> ColumnElement[bool]:
    """Return the condition that selects the messages of a status."""
    unsent = OutboxMessage.sent_at.is_(None)
    if status == "sent":
        return OutboxMessage.sent_at.is_not(None)
    if status == "failed":
        return unsent & (OutboxMessage.last_error != "")
    return unsent & (OutboxMessage.last_error == "")


def counts(session: Session) -> dict[str, int]:
    """Return how many messages are queued, failed and sent."""
    return {
        status: session.scalar(
            select(func.count()).select_from(OutboxMessage).where(status_filter(status))
        )
        or 0
        for status in STATUSES
    }


def retry(session: Session, message: OutboxMessage, user: User, now: datetime) -> None:
    """Make an unsent message due at once (the worker is woken after the commit)."""
    if message.sent_at is not None:
        raise ValueError("already sent")
    before = {"next_attempt_at": message.next_attempt_at, "last_error": message.last_error}
    message.next_attempt_at = now
    session.flush()
    audit.record(
        session,
        user,
        "outbox.retry",
        "outbox_message",
        message.id,
        before=before,
        after={"next_attempt_at": now},
        now=now,
    )
    session.info[PENDING] = True  # ring the doorbell once committed
