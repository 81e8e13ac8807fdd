"""A forgotten password: the same answer for any address, a mailed link that works once and
expires, a rate limit; first passwords set through links; a forced change at first sign-in."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from portal.models import AuditEntry, Base, OutboxMessage, User, utcnow
from portal.services import accounts, supervisors
from tests.factories import make_user
from tests.portal.test_sessions import PASSWORD, csrf_token, post_form, sign_in

NEW = "my own new password 42"


@pytest.fixture
def member(db, reference):
    user = make_user(db.session, "dispatcher", email="member@example.cn")
    user.password_hash = accounts.hash_password(PASSWORD)
    db.session.commit()
    return user


def mailed_link(db, email: str) -> str:
    """Return the path of the last set-password link mailed to an address."""
    body = db.session.scalar(
        select(OutboxMessage.body)
        .where(OutboxMessage.recipient == email)
        .order_by(OutboxMessage.id.desc())
    )
    return re.search(r"http://127\.0\.0\.1:5000(/password/set/\S+)", body).group(1)


def masked(page: str) -> str:
    return re.sub(r'value="[^"]+"', 'value=""', re.sub(r'content="[^"]+"', 'content=""', page))


def test_the_answer_is_the_same_for_known_and_unknown_addresses(app, client, db, member):
    assert 'href="/password/forgot"' in client.get("/login").get_data(as_text=True)
    known = post_form(client, "/password/forgot", email="Member@example.cn")
    unknown = post_form(client, "/password/forgot", email="nobody@example.cn")
    disabled_user = make_user(db.session, "handler", email="off@example.cn", active=False)
    disabled = post_form(client, "/password/forgot", email=disabled_user.email)
    assert known.status_code == unknown.status_code == disabled.status_code == 200
    assert masked(known.get_data(as_text=True)) == masked(unknown.get_data(as_text=True))
    assert masked(known.get_data(as_text=True)) == masked(disabled.get_data(as_text=True))
    assert "请查收邮件" in known.get_data(as_text=True)
    recipients = db.session.scalars(select(OutboxMessage.recipient)).all()
    assert recipients == ["member@example.cn"]
    audit = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "account.reset_request")
    )
    assert audit.object_id == str(member.id)


def test_the_mail_speaks_the_users_language_chinese_first(app, client, db, member):
    post_form(client, "/password/forgot", email=member.email)
    zh = db.session.scalar(select(OutboxMessage))
    assert "设置新密码" in zh.subject and "分钟" in zh.body
    member.locale = "en"
    db.session.commit()
    post_form(client, "/password/forgot", email=member.email)
    en = db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
    assert en.subject == "Set a new password" and "60 minutes" in en.body


def test_the_link_sets_the_password_once(app, client, db, member):
    post_form(client, "/password/forgot", email=member.email)
    link = mailed_link(db, member.email)
    assert client.get(link).status_code == 200  # opening it (a mail scanner) spends nothing
    short = post_form(client, link, new="short", confirm="short")
    assert short.status_code == 422
    differ = post_form(client, link, new=NEW, confirm=NEW + "x")
    assert differ.status_code == 422
    done = post_form(client, link, new=NEW, confirm=NEW)
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    db.session.refresh(member)
    assert accounts.check_password(member, NEW)
    used = client.get(link)
    assert used.status_code == 410
    page = used.get_data(as_text=True)
    assert "链接已失效" in page and 'href="/password/forgot"' in page
    token = csrf_token(client, "/password/forgot")
    again = client.post(
        link, data={"new": "yet another one!!", "confirm": "yet another one!!", "csrf_token": token}
    )
    assert again.status_code == 410
    db.session.refresh(member)
    assert accounts.check_password(member, NEW)
    assert sign_in(client, member.email, NEW).status_code == 303
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["account.reset_request", "account.password_reset", "auth.sign_in"]


def test_the_link_expires(app, client, db, member, monkeypatch):
    post_form(client, "/password/forgot", email=member.email)
    link = mailed_link(db, member.email)
    token = csrf_token(client, "/password/forgot")
    sent = utcnow()
    monkeypatch.setattr("portal.auth.account.utcnow", lambda: sent + timedelta(minutes=59))
    assert client.get(link).status_code == 200
    monkeypatch.setattr("portal.auth.account.utcnow", lambda: sent + timedelta(minutes=61))
    expired = client.get(link)
    assert expired.status_code == 410 and 'href="/password/forgot"' in expired.get_data(
        as_text=True
    )
    late = client.post(link, data={"new": NEW, "confirm": NEW, "csrf_token": token})
    assert late.status_code == 410
    db.session.refresh(member)
    assert accounts.check_password(member, PASSWORD)


def test_any_password_change_spends_the_link(app, client, db, member):
    post_form(client, "/password/forgot", email=member.email)
    link = mailed_link(db, member.email)
    accounts.change_password(db.session, member, PASSWORD, NEW, utcnow())
    db.session.commit()
    assert client.get(link).status_code == 410
    forged = link[:-3] + ("abc" if not link.endswith("abc") else "xyz")
    assert client.get(forged).status_code == 410


@pytest.mark.parametrize(
    "app_config",
    [{"RATELIMIT_ENABLED": True, "RATELIMIT_PASSWORD_RESET": "2 per hour"}],
)
def test_reset_requests_are_limited_per_address_and_per_email(app, client, db, member, app_config):
    codes = [
        post_form(client, "/password/forgot", email=f"x{i}@example.cn").status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    elsewhere = [app.test_client() for _ in range(3)]
    for i, other in enumerate(elsewhere):
        other.environ_base["REMOTE_ADDR"] = f"198.51.100.{i}"
    codes = [post_form(c, "/password/forgot", email=member.email).status_code for c in elsewhere]
    assert codes == [200, 200, 429]
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 2


def test_a_new_account_sets_its_first_password_through_the_link(app, client, db, reference):
    admin = make_user(db.session, "admin")
    application = supervisors.apply(
        db.session, "陈晓", "13800001111", "chen@example.cn", None, "", utcnow(), agreed_at=utcnow()
    )
    user = supervisors.approve(db.session, admin, application, utcnow())
    db.session.commit()
    assert sign_in(client, user.email, "any password at all").status_code == 422  # none yet
    link = mailed_link(db, user.email)
    # A new account's link lasts days, not an hour.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("portal.auth.account.utcnow", lambda: utcnow() + timedelta(days=6))
        assert client.get(link).status_code == 200
        patch.setattr("portal.auth.account.utcnow", lambda: utcnow() + timedelta(days=8))
        assert client.get(link).status_code == 410
    assert post_form(client, link, new=NEW, confirm=NEW).status_code == 303
    assert sign_in(client, user.email, NEW).status_code == 303
    assert client.get("/supervisor/").status_code == 200


def test_no_password_is_kept_in_any_table_mail_or_log(app, client, db, reference, caplog):
    """Every way a password is chosen: none of them leaves it in a row, a mail or a log."""
    caplog.set_level(logging.DEBUG)
    admin = make_user(db.session, "admin", email="boss@example.cn")
    admin.password_hash = accounts.hash_password(PASSWORD)
    db.session.commit()
    sign_in(client, admin.email)
    post_form(
        client,
        "/admin/users",
        email="new@example.cn",
        name="新人",
        role="dispatcher",
        department="",
    )
    application = supervisors.apply(
        db.session, "陈晓", "1", "chen@example.cn", None, "", utcnow(), agreed_at=utcnow()
    )
    supervisors.approve(db.session, admin, application, utcnow())
    db.session.commit()
    cli = app.test_cli_runner().invoke(args=["user", "create", "cli@example.cn", "--role", "admin"])
    typed = app.test_cli_runner().invoke(
        args=["user", "create", "typed@example.cn", "--role", "admin"], input="typed secret 1234\n"
    )
    assert cli.exit_code == typed.exit_code == 0
    chosen = {}
    for email in ("new@example.cn", "chen@example.cn"):
        chosen[email] = f"chosen by {email}!"
        stranger = app.test_client()
        post_form(stranger, mailed_link(db, email), new=chosen[email], confirm=chosen[email])
    post_form(client, "/account/password", old=PASSWORD, new=NEW, confirm=NEW)
    stranger = app.test_client()
    post_form(stranger, "/password/forgot", email="typed@example.cn")
    post_form(
        stranger,
        mailed_link(db, "typed@example.cn"),
        new="reset secret 5678",
        confirm="reset secret 5678",
    )
    secrets = [PASSWORD, NEW, "typed secret 1234", "reset secret 5678", *chosen.values()]
    for email, password in [
        ("new@example.cn", chosen["new@example.cn"]),
        ("chen@example.cn", chosen["chen@example.cn"]),
        ("boss@example.cn", NEW),
        ("typed@example.cn", "reset secret 5678"),
    ]:
        user = db.session.scalar(select(User).where(User.email == email))
        assert accounts.check_password(user, password), email  # the flows really set them
    bodies = " ".join(db.session.scalars(select(OutboxMessage.body)))
    assert "/password/set/" in bodies and not any(s in bodies for s in secrets)
    assert not re.search(r"(Password|密码)[:：]", bodies)
    everything = " ".join(
        str(row)
        for table in Base.metadata.sorted_tables
        for row in db.session.execute(text(f'SELECT * FROM "{table.name}"'))
    )
    assert not any(s in everything for s in secrets)
    logged = caplog.text + cli.output + typed.output
    assert not any(s in logged for s in secrets)


def test_a_handed_out_password_must_be_changed_at_first_sign_in(app, client, db, member):
    member.must_change_password = True
    db.session.commit()
    assert sign_in(client, member.email).status_code == 303
    for path in ("/admin/", "/account", "/cases", "/supervisor/"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == "/account/password", path
    page = client.get("/account/password")
    assert page.status_code == 200 and "请先设置您自己的密码" in page.get_data(as_text=True)
    with client.get("/static/css/site.css") as stylesheet:
        assert stylesheet.status_code == 200
    same = post_form(client, "/account/password", old=PASSWORD, new=PASSWORD, confirm=PASSWORD)
    assert same.status_code == 422
    assert (
        post_form(client, "/account/password", old=PASSWORD, new=NEW, confirm=NEW).status_code
        == 303
    )
    db.session.refresh(member)
    assert not member.must_change_password
    assert client.get("/admin/").status_code == 200


def test_signing_out_stays_possible_while_the_change_is_due(app, client, db, member):
    member.must_change_password = True
    db.session.commit()
    sign_in(client, member.email)
    token = csrf_token(client, "/account/password")
    assert client.post("/logout", data={"csrf_token": token}).headers["Location"] == "/"
    assert client.get("/admin/").status_code == 302
