"""Jobs every node may run, each done once: the outbox and the SLA sweep take their rows with
SKIP LOCKED, periodic jobs take an advisory lock. The races need PostgreSQL (on SQLite a
portal runs on one node, and `run_once` always runs)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, OutboxMessage, utcnow
from portal.services import escalations, outbox, singleton, workflow
from tests.factories import make_case, make_user
from tests.services.test_escalations import road  # noqa: F401 - a fixture
from tests.services.test_outbox import Inbox, free_port, queue


def on_postgresql(db) -> bool:
    return db.engine.dialect.name == "postgresql"


needs_pg = pytest.mark.usefixtures("require_pg")


@pytest.fixture
def require_pg(db):
    if not on_postgresql(db):
        pytest.skip("two nodes share a PostgreSQL database; SQLite is one node's")


def together(app, jobs):
    """Run each job in a thread of its own with its own database session, all released at
    the same instant; return their results."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list = []

    def run(n, job):
        with app.app_context():
            session = Session(app.extensions["sqlalchemy"].engine)
            try:
                barrier.wait(10)
                results[n] = job(session)
                session.commit()
            except Exception as error:
                errors.append(error)
            finally:
                session.close()

    threads = [threading.Thread(target=run, args=(n, job)) for n, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


class SlowInbox(Inbox):
    """An SMTP server that takes a while per message, so two workers overlap."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@needs_pg
def test_two_outbox_workers_send_every_mail_once(app, db):
    port = free_port()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=5)
    inbox = SlowInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        queue(db, 60)
        now = utcnow()
        results = together(app, [lambda s: outbox.deliver(s, now)] * 2)
    finally:
        controller.stop()
    assert sum(r.sent for r in results) == 60 and all(r.sent for r in results)  # both worked
    sent = Counter(m["To"] for m in inbox.messages)
    assert len(sent) == 60 and set(sent.values()) == {1}
    assert db.session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) == 0


@needs_pg
def test_two_sla_sweeps_escalate_every_case_once(app, db, road):  # noqa: F811
    department, _handler = road
    dispatcher = make_user(db.session, "dispatcher")
    cases = []
    for n in range(40):
        case, _ = make_case(
            db.session, category_code="0101", position=(30.262 + n * 0.0006, 120.14)
        )
        workflow.route(db.session, case, dispatcher, department, case.created_at)
        cases.append(case)
    db.session.commit()
    late = max(c.resolve_due_at for c in cases) + timedelta(minutes=1)
    results = together(app, [lambda s: escalations.sweep(s, late)] * 2)
    assert sum(r.escalated for r in results) == 40
    per_case = Counter(
        db.session.scalars(select(CaseEvent.case_id).where(CaseEvent.kind == "escalated")).all()
    )
    assert len(per_case) == 40 and set(per_case.values()) == {1}
    to_head = db.session.scalar(
        select(func.count()).where(OutboxMessage.recipient == "head@example.cn")
    )
    assert to_head == 40  # one escalation mail per case, not two
    assert db.session.scalar(select(func.count()).where(Case.resolve_check_at.is_not(None))) == 0


@needs_pg
def test_run_once_lets_one_node_in_and_the_next_turn_runs(app, db):
    engine = db.engine
    with singleton.run_once(engine, "hotspots") as first:
        assert first
        with singleton.run_once(engine, "hotspots") as second:
            assert not second  # another node (another connection) is doing it
        with singleton.run_once(engine, "sla-sweep") as other:
            assert other  # other jobs are not held up
    with singleton.run_once(engine, "hotspots") as later:
        assert later  # released with the job


@needs_pg
def test_a_periodic_job_on_two_nodes_at_once_runs_once(app, db):
    ran = []

    def job(session):
        with singleton.run_once(session.get_bind(), "monthly-draw") as mine:
            if mine:
                ran.append(1)
                time.sleep(0.3)  # still working when the other node asks
            return mine

    assert sorted(together(app, [job] * 3)) == [False, False, True] and ran == [1]


@needs_pg
def test_hold_shared_lets_writers_in_together_and_keeps_the_sweep_out(app, db):
    engine = db.engine
    with Session(engine) as one, Session(engine) as two, Session(engine) as sweeper:
        singleton.hold(one, "photo-store", shared=True)
        singleton.hold(two, "photo-store", shared=True)  # not kept waiting
        assert not singleton.try_hold(sweeper, "photo-store")
        one.commit()
        two.rollback()
        assert singleton.try_hold(sweeper, "photo-store")
        sweeper.commit()


def test_on_sqlite_every_job_runs_and_on_postgresql_one(app, db):
    with singleton.run_once(db.engine, "x") as first, singleton.run_once(db.engine, "x") as again:
        # SQLite: one node, nothing to share; PostgreSQL: the second asker is another node.
        assert first and again != on_postgresql(db)
    assert singleton.try_hold(db.session, "x")


def test_lock_keys_are_stable_and_distinct():
    assert singleton.lock_key("sla-sweep") == singleton.lock_key("sla-sweep")
    assert singleton.lock_key("sla-sweep") != singleton.lock_key("outbox")
    assert -(2**63) <= singleton.lock_key("hotspots") < 2**63
