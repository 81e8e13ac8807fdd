"""Operators' commands."""

import json
from datetime import timedelta

from sqlalchemy import select

from portal.models import CalendarDay, OutboxMessage, User, Zone, utcnow
from portal.services import accounts, password_links
from tests.factories import make_case


def test_user_create_prints_a_set_password_link_or_reads_the_password(runner, db, reference):
    linked = runner.invoke(args=["user", "create", "Boss@example.cn", "--role", "admin"])
    assert linked.exit_code == 0, linked.output
    link = linked.output.strip().splitlines()[-1]
    boss = db.session.scalar(select(User).where(User.email == "boss@example.cn"))
    assert boss.role == "admin" and boss.password_hash == ""
    found = password_links.account_of(db.session, link.rsplit("/", 1)[1], utcnow())
    assert link.startswith("http://127.0.0.1:5000/password/set/") and found == (boss, "setup")
    mailed = runner.invoke(args=["user", "create", "m@example.cn", "--role", "admin", "--mail"])
    assert mailed.exit_code == 0 and "/password/set/" not in mailed.output
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == "m@example.cn"))
    assert "/password/set/" in mail.body
    typed = runner.invoke(
        args=["user", "create", "h@example.cn", "--role", "handler", "--department", "ROAD"],
        input="a long password here\n",
    )
    assert typed.exit_code == 0 and "a long password here" not in typed.output
    handler = db.session.scalar(select(User).where(User.email == "h@example.cn"))
    assert accounts.check_password(handler, "a long password here")
    assert handler.must_change_password  # typed by an operator: its owner chooses their own
    assert (
        runner.invoke(args=["user", "create", "x@example.cn", "--role", "handler"]).exit_code != 0
    )
    assert (
        runner.invoke(args=["user", "create", "boss@example.cn", "--role", "admin"]).exit_code != 0
    )


def test_sla_sweep_and_outbox_send(runner, db, reference, app):
    make_case(db.session, now=utcnow() - timedelta(days=30))
    result = runner.invoke(args=["sla", "sweep"])
    assert result.exit_code == 0 and "2 escalated" in result.output  # respond and resolve
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=9, SMTP_TIMEOUT=1)
    dispatcher_mail = OutboxMessage(recipient="d@example.cn", subject="s", body="b")
    db.session.add(dispatcher_mail)
    db.session.commit()
    sent = runner.invoke(args=["outbox", "send"])
    assert sent.exit_code == 0 and "1 failed" in sent.output


def test_zones_and_calendar_import(runner, db, reference, tmp_path):
    square = {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]]}
    path = tmp_path / "zones.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": square,
                        "properties": {"code": "X1", "name_zh": "测试区", "level": "district"},
                    }
                ],
            }
        )
    )
    assert runner.invoke(args=["zones", "import", str(path)]).exit_code == 0
    assert db.session.scalar(select(Zone).where(Zone.code == "X1")).name_en == "测试区"
    path.write_text('{"type": "Point"}')
    assert runner.invoke(args=["zones", "import", str(path)]).exit_code != 0
    csv_path = tmp_path / "2027.csv"
    csv_path.write_text("2027-10-01,holiday,国庆节\n2027-09-26,workday,国庆节调休\n")
    assert runner.invoke(args=["calendar", "import", str(csv_path)]).exit_code == 0
    assert (
        db.session.scalar(select(CalendarDay.kind).where(CalendarDay.name == "国庆节调休"))
        == "workday"
    )


def test_spotchecks_assign_is_reproducible_and_refuses_twice(runner, db, reference):
    from portal.models import Project
    from tests.factories import make_user

    make_user(db.session, "supervisor")
    db.session.add(
        Project(
            code="S",
            name="工地",
            lat=30.27,
            lng=120.15,
            phase="construction",
            geometry={"type": "Point", "coordinates": [120.15, 30.27]},
            active_site=True,
        )
    )
    db.session.commit()
    first = runner.invoke(args=["spotchecks", "assign", "--month", "2026-12", "--seed", "9"])
    assert first.exit_code == 0 and "1 assignments" in first.output
    assert runner.invoke(args=["spotchecks", "assign", "--month", "2026-12"]).exit_code != 0
    forced = runner.invoke(args=["spotchecks", "assign", "--month", "2026-12", "--force"])
    assert forced.exit_code == 0
    cron = runner.invoke(args=["spotchecks", "assign", "--month", "2026-12", "--if-missing"])
    assert cron.exit_code == 0 and "already drawn" in cron.output  # every node's cron


def test_a_job_another_node_is_doing_is_skipped(runner, db):
    from portal.services import singleton

    if db.engine.dialect.name != "postgresql":
        assert "escalated" in runner.invoke(args=["sla", "sweep"]).output  # one node
        return
    with singleton.run_once(db.engine, "sla-sweep") as mine:
        assert mine
        ran = runner.invoke(args=["sla", "sweep"])
        assert ran.exit_code == 0 and "Another node is sweeping" in ran.output
    with singleton.run_once(db.engine, "spotchecks:2026-12"):
        ran = runner.invoke(args=["spotchecks", "assign", "--month", "2026-12"])
        assert ran.exit_code == 0 and "Another node is drawing 2026-12" in ran.output


def test_spotchecks_assign_records_who_ran_it(runner, db, reference, client, auth, monkeypatch):
    import getpass

    from portal.models import AuditEntry, Project, SpotCheckRound
    from tests.factories import make_user

    make_user(db.session, "supervisor")
    admin = make_user(db.session, "admin", name="王主任", email="wang@example.cn")
    dispatcher = make_user(db.session, "dispatcher", email="disp@example.cn")
    db.session.add(
        Project(
            code="S",
            name="工地",
            lat=30.27,
            lng=120.15,
            phase="construction",
            geometry={"type": "Point", "coordinates": [120.15, 30.27]},
            active_site=True,
        )
    )
    db.session.commit()
    assign = ["spotchecks", "assign", "--month", "2026-11", "--seed", "1"]
    refused = runner.invoke(args=[*assign, "--by", dispatcher.email])
    assert refused.exit_code != 0 and "admin" in refused.output
    assert runner.invoke(args=[*assign, "--by", "WANG@example.cn"]).exit_code == 0
    monkeypatch.setattr(getpass, "getuser", lambda: "ops")
    assert runner.invoke(args=["spotchecks", "assign", "--month", "2026-12"]).exit_code == 0
    november, december = db.session.scalars(
        select(SpotCheckRound).order_by(SpotCheckRound.month)
    ).all()
    assert november.run_by == admin and november.run_by_label == "王主任"
    assert december.run_by is None and december.run_by_label == "ops"
    labels = db.session.scalars(
        select(AuditEntry.actor_label).where(AuditEntry.action == "spotchecks.assign")
    ).all()
    assert sorted(labels) == ["ops", "王主任 <wang@example.cn>"]
    auth.login(admin)
    page = client.get("/admin/spotchecks").get_data(as_text=True)
    assert "执行人：王主任" in page and "执行人：ops" in page
