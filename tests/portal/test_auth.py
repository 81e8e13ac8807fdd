"""Signing in, lock-out after repeated failures, throttling, and changing a password."""

import pytest
from sqlalchemy import select

from portal.models import AuditEntry
from portal.services import accounts
from tests.factories import make_user, sign_in, totp_code


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def staff(db, reference):
    user = make_user(db.session, "dispatcher", email="d@example.cn")
    user.password_hash = accounts.hash_password("correct horse battery")
    db.session.commit()
    return user


def test_sign_in_and_out(client, db, staff):
    response = client.post(
        "/login", data={"email": "D@example.cn", "password": "correct horse battery"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/login/verify"
    assert client.get("/admin/").status_code == 302  # not signed in before the code
    response = client.post("/login/verify", data={"code": totp_code(db.session, staff)})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    client.post("/logout")
    assert client.get("/admin/").status_code == 302


def test_wrong_passwords_lock_the_account_and_the_lock_is_recorded(client, db, staff):
    for _ in range(accounts.MAX_FAILURES):
        assert (
            client.post("/login", data={"email": "d@example.cn", "password": "wrong"}).status_code
            == 422
        )
    locked = client.post(
        "/login", data={"email": "d@example.cn", "password": "correct horse battery"}
    )
    assert locked.status_code == 422 and "锁定" in locked.get_data(as_text=True)
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert actions.count("account.lock") == 1  # beside each refused sign-in


def test_next_only_goes_to_this_site(client, db, staff):
    response = sign_in(client, db.session, staff, "correct horse battery", "//evil.example/x")
    assert response.headers["Location"] == "/admin/"


def test_a_supervisor_lands_on_the_spot_checks_and_finds_them_in_the_menu(client, db, reference):
    user = make_user(db.session, "supervisor", email="s@example.cn")
    user.password_hash = accounts.hash_password("correct horse battery")
    db.session.commit()
    response = client.post(
        "/login", data={"email": "s@example.cn", "password": "correct horse battery"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/supervisor/"
    page = client.get("/").get_data(as_text=True)
    assert 'href="/supervisor/"' in page and 'href="/admin/"' not in page


def test_change_password(client, db, staff):
    sign_in(client, db.session, staff, "correct horse battery")
    bad = client.post(
        "/account/password",
        data={"old": "nope", "new": "another long one", "confirm": "another long one"},
    )
    assert bad.status_code == 422
    short = client.post(
        "/account/password",
        data={"old": "correct horse battery", "new": "short", "confirm": "short"},
    )
    assert short.status_code == 422
    ok = client.post(
        "/account/password",
        data={
            "old": "correct horse battery",
            "new": "another long one",
            "confirm": "another long one",
        },
    )
    assert ok.status_code == 303
    db.session.refresh(staff)
    assert accounts.check_password(staff, "another long one")


@pytest.mark.parametrize(
    "app_config",
    [{"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": "3 per minute"}],
)
def test_sign_in_is_throttled_per_account_and_address(client, staff, app_config):
    codes = [
        client.post("/login", data={"email": "d@example.cn", "password": "x"}).status_code
        for _ in range(4)
    ]
    assert codes == [422, 422, 422, 429]


def audit_trail(db):
    entries = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action.in_(("auth.sign_in", "auth.sign_in_failed", "auth.sign_out")))
        .order_by(AuditEntry.id)
    ).all()
    return [(e.action, e.after.get("reason"), e.actor_label) for e in entries]


def test_sign_ins_failures_and_sign_outs_are_in_the_audit_log(client, db, staff):
    client.post("/login", data={"email": "nobody@example.cn", "password": "x"})
    client.post("/login", data={"email": "d@example.cn", "password": "wrong"})
    client.post("/login", data={"email": "d@example.cn", "password": "correct horse battery"})
    client.post("/login/verify", data={"code": "000000"})
    client.post("/login/verify", data={"code": totp_code(db.session, staff)})
    client.post("/logout")
    trail = audit_trail(db)
    assert [(action, reason) for action, reason, _label in trail] == [
        ("auth.sign_in_failed", "unknown"),
        ("auth.sign_in_failed", "password"),
        ("auth.sign_in_failed", "code"),
        ("auth.sign_in", None),
        ("auth.sign_out", None),
    ]
    assert trail[0][2] == "nobody@example.cn"  # what was typed, for the admin reading the log
    assert "d@example.cn" in trail[3][2]
