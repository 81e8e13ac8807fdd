"""The outbox against a real SMTP server on loopback, including the server being down."""

import os
import socket
import threading
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.models import OutboxMessage, utcnow
from portal.services import outbox


class Inbox:
    """Keep every message the SMTP server receives."""

    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(app):
    port = free_port()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=2)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    yield inbox, controller
    if controller.loop.is_running():
        controller.stop()


def queue(db, n: int) -> None:
    for i in range(n):
        db.session.add(
            OutboxMessage(
                recipient=f"r{i}@example.cn",
                subject=f"案件 {i} 已派遣",
                body="您反映的问题已派遣至道路养护所。",
            )
        )
    db.session.commit()


def test_every_message_arrives_once_even_when_the_server_was_down(db, smtp):
    inbox, controller = smtp
    queue(db, 3)
    now = utcnow()
    down = outbox.deliver(db.session, now)  # nothing is listening yet
    assert (down.sent, down.failed) == (0, 1)
    failed = db.session.scalars(select(OutboxMessage).where(OutboxMessage.attempts == 1)).one()
    assert failed.next_attempt_at == now + timedelta(minutes=1) and failed.last_error
    controller.start()
    early = outbox.deliver(db.session, now + timedelta(seconds=30))
    # The server is back: the one that failed only because it was down need not wait.
    assert early.sent == 3
    assert outbox.deliver(db.session, now + timedelta(minutes=2)).sent == 0
    assert outbox.deliver(db.session, now + timedelta(hours=1)).sent == 0
    controller.stop()
    recipients = sorted(m["To"] for m in inbox.messages)
    assert recipients == ["r0@example.cn", "r1@example.cn", "r2@example.cn"]
    subject = str(make_header(decode_header(inbox.messages[0]["Subject"])))
    assert "已派遣" in subject
    assert all(m["Message-ID"] for m in inbox.messages)


def test_backoff_grows_and_is_capped():
    assert [outbox.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert outbox.backoff(30) == timedelta(hours=1)


REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set: no doorbell")


@pytest.fixture
def doorbell(app):
    app.config["REDIS_URL"] = REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(outbox.DOORBELL)
    yield client
    client.delete(outbox.DOORBELL)
    client.close()


@needs_redis
def test_a_commit_with_mail_wakes_the_waiting_worker(app, db, smtp, doorbell):
    inbox, controller = smtp
    woke = []
    ctx = app.app_context()

    def worker() -> None:
        with ctx:
            woke.append(outbox.wait_for_mail(60))

    thread = threading.Thread(target=worker)
    thread.start()
    queue(db, 1)
    thread.join(30)
    assert woke == [True]  # woken by the commit, not by the 60 s round
    controller.start()
    assert outbox.deliver(db.session, utcnow()).sent == 1
    controller.stop()
    assert [m["To"] for m in inbox.messages] == ["r0@example.cn"]


@needs_redis
def test_a_rolled_back_message_rings_nothing(db, doorbell):
    db.session.add(OutboxMessage(recipient="a@example.cn", subject="s", body="b"))
    db.session.flush()
    db.session.rollback()
    queue(db, 0)
    assert doorbell.llen(outbox.DOORBELL) == 0
    queue(db, 2)
    assert doorbell.llen(outbox.DOORBELL) == 1  # one ring per commit


def test_mail_is_kept_when_redis_is_down(app, db, smtp):
    inbox, controller = smtp
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    queue(db, 1)  # the commit succeeds although the doorbell cannot ring
    assert not outbox.ring()
    controller.start()
    assert outbox.deliver(db.session, utcnow()).sent == 1
    controller.stop()
    assert len(inbox.messages) == 1


class Picky(Inbox):
    """Refuse one recipient for good, accept the others."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("r0@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_refused_recipient_keeps_its_back_off(app, db):
    port = free_port()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=2)
    inbox = Picky()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        queue(db, 3)
        now = utcnow()
        first = outbox.deliver(db.session, now)
        assert (first.sent, first.failed) == (0, 1)  # r0 refused: the round stops there
        second = outbox.deliver(db.session, now + timedelta(seconds=1))
        assert second.sent == 2  # the others go; r0, refused for itself, still waits
        refused = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        ).one()
        assert refused.recipient == "r0@example.cn"
        assert refused.next_attempt_at == now + timedelta(minutes=1)
        assert not refused.last_error.startswith(outbox.UNAVAILABLE)
    finally:
        controller.stop()


def test_counts_and_retry(db, reference):
    from portal.models import AuditEntry
    from tests.factories import make_user

    now = utcnow()
    failed = OutboxMessage(
        recipient="a@example.cn",
        subject="s",
        body="b",
        last_error="SMTPRecipientsRefused: x",
        attempts=3,
        next_attempt_at=now + timedelta(hours=1),
    )
    sent = OutboxMessage(recipient="b@example.cn", subject="s", body="b", sent_at=now)
    queued = OutboxMessage(recipient="c@example.cn", subject="s", body="b")
    db.session.add_all([failed, sent, queued])
    db.session.commit()
    assert outbox.counts(db.session) == {"queued": 1, "failed": 1, "sent": 1}
    admin = make_user(db.session, "admin")
    outbox.retry(db.session, failed, admin, now)
    db.session.commit()
    assert failed.next_attempt_at == now
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "outbox.retry"))
    with pytest.raises(ValueError):
        outbox.retry(db.session, sent, admin, now)
