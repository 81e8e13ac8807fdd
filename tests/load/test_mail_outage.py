"""The mail server down for an hour, then refusing, then back: every notification arrives
once. Time is simulated: the outbox runs a round at every minute of a fake clock."""

from collections import Counter
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from portal.models import OutboxMessage, utcnow
from portal.services import outbox
from tests.factories import make_case
from tests.services.test_outbox import free_port

pytestmark = pytest.mark.load

ABSENT_UNTIL = 30  # minutes: nothing listens on the port
REFUSING_UNTIL = 60  # minutes: the server answers 421 (not available) to every message
LAST_MINUTE = 180


class Server:
    """An SMTP server that refuses every message until told to accept."""

    def __init__(self) -> None:
        self.accepting = False
        self.received = []
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):
        if not self.accepting:
            self.refused += 1
            return "421 4.3.0 Mail server temporarily unavailable, try again later"
        self.received.append(message_from_bytes(envelope.content))
        return "250 OK"


def _subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def test_notifications_queued_during_an_hour_long_outage_arrive_once(app, db, reference, figures):
    port = free_port()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=2)
    server = Server()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    start = utcnow()
    for i in range(20):
        make_case(db.session, email=f"before{i}@example.cn", now=start)
    rounds, failures, last_sent_at = 0, 0, None
    try:
        for minute in range(LAST_MINUTE + 1):
            now = start + timedelta(minutes=minute)
            if minute == ABSENT_UNTIL:
                controller.start()
            if minute == REFUSING_UNTIL:
                server.accepting = True
            if minute < REFUSING_UNTIL and minute % 5 == 2:
                # Residents keep reporting while the mail is down.
                make_case(db.session, email=f"during{minute}@example.cn", now=now)
            result = outbox.deliver(db.session, now)
            rounds += 1
            failures += result.failed
            if result.sent:
                last_sent_at = minute
            if minute < REFUSING_UNTIL:
                assert result.sent == 0
    finally:
        if controller.loop.is_running():
            controller.stop()

    queued = db.session.scalars(select(OutboxMessage)).all()
    expected = Counter((m.recipient, m.subject) for m in queued)
    received = Counter((m["To"], _subject(m)) for m in server.received)
    assert len(queued) == 20 + len(range(2, REFUSING_UNTIL, 5))
    assert received == expected  # every notification once, none twice
    assert len({m["Message-ID"] for m in server.received}) == len(queued)
    assert all(m.sent_at is not None for m in queued)
    # Once the server took a message, none waited out the rest of its back-off.
    assert last_sent_at == REFUSING_UNTIL
    figures(
        queued_before_outage=20,
        queued_during_outage=len(queued) - 20,
        delivery_rounds=rounds,
        failed_attempts=failures,
        refused_by_server=server.refused,
        delivered=len(server.received),
        duplicates=sum(n - 1 for n in received.values() if n > 1),
        most_attempts_of_one_message=db.session.scalar(select(func.max(OutboxMessage.attempts))),
        minutes_from_return_to_last_delivery=last_sent_at - REFUSING_UNTIL,
    )
