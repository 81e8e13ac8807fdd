"""The outbox against a real SMTP server on loopback, including the server being down."""

import socket
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
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
    assert early.sent == 2  # the failed one waits for its back-off
    later = outbox.deliver(db.session, now + timedelta(minutes=2))
    assert later.sent == 1
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
