"""Two-factor sign-in in the browser's terms: enrolling, the second step, the guard, resets."""

import re
import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from portal.models import AccountTotp, AuditEntry, utcnow
from portal.services import accounts, two_factor
from tests.factories import make_user, totp_code

PASSWORD = "correct horse battery"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def with_password(db, user):
    user.password_hash = accounts.hash_password(PASSWORD)
    db.session.commit()
    return user


def password_step(client, user, next_url=""):
    query = f"?next={next_url}" if next_url else ""
    return client.post("/login" + query, data={"email": user.email, "password": PASSWORD})


def test_enrolling_shows_the_qr_code_the_key_and_then_the_recovery_codes_once(client, db, login_as):
    user = login_as("handler")
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = db.session.get(AccountTotp, user.id).secret
    assert "<svg" in page and secret in page and "otpauth://totp/" in page
    assert not two_factor.is_enabled(db.session, user)

    wrong = client.post("/account/two-factor", data={"code": "123456"})
    assert wrong.status_code == 422 and "验证码不正确" in wrong.get_data(as_text=True)
    assert secret in wrong.get_data(as_text=True)  # the same key: the app already has it

    done = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.get_data(as_text=True))
    assert done.status_code == 200 and len(codes) == 10
    assert two_factor.is_enabled(db.session, user)
    again = client.get("/account/two-factor").get_data(as_text=True)
    assert not any(code in again for code in codes) and "10" in again


def test_sign_in_takes_a_second_step_and_keeps_next(client, db, reference):
    admin = with_password(db, make_user(db.session, "admin"))
    first = password_step(client, admin, "/admin/users")
    assert first.status_code == 303
    assert first.headers["Location"] == "/login/verify?next=/admin/users"
    assert client.get("/admin/").status_code == 302  # the password alone signs nobody in
    page = client.get(first.headers["Location"])
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.get_data(as_text=True)
    done = client.post(first.headers["Location"], data={"code": totp_code(db.session, admin)})
    assert done.status_code == 303 and done.headers["Location"] == "/admin/users"
    assert client.get("/admin/users").status_code == 200


def test_a_code_seen_once_does_not_sign_in_again(client, db, reference):
    admin = with_password(db, make_user(db.session, "admin"))
    code = totp_code(db.session, admin)
    password_step(client, admin)
    assert client.post("/login/verify", data={"code": code}).status_code == 303
    client.post("/logout")
    password_step(client, admin)
    replay = client.post("/login/verify", data={"code": code})
    assert replay.status_code == 422 and "已使用" in replay.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_a_code_from_two_minutes_ago_is_refused_in_english(client, db, reference):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    admin = with_password(db, make_user(db.session, "admin"))
    password_step(client, admin)
    stale = totp_code(db.session, admin, utcnow() - timedelta(minutes=2))
    refused = client.post("/login/verify", data={"code": stale})
    assert refused.status_code == 422 and "too old" in refused.get_data(as_text=True)


def test_a_recovery_code_signs_in_once(client, db, reference):
    user = with_password(db, make_user(db.session, "dispatcher"))
    codes = two_factor.regenerate_recovery_codes(
        db.session, user, totp_code(db.session, user), utcnow()
    )
    db.session.commit()
    password_step(client, user)
    assert client.post("/login/verify", data={"code": codes[0]}).status_code == 303
    client.post("/logout")
    password_step(client, user)
    assert client.post("/login/verify", data={"code": codes[0]}).status_code == 422
    used = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.2fa.recovery"))
    assert used is not None and used.actor_id == user.id


def test_wrong_codes_lock_the_account(client, db, reference):
    user = with_password(db, make_user(db.session, "dispatcher"))
    password_step(client, user)
    for _ in range(accounts.MAX_FAILURES):
        assert client.post("/login/verify", data={"code": "000000"}).status_code == 422
    right = client.post("/login/verify", data={"code": totp_code(db.session, user)})
    assert right.status_code == 422 and "锁定" in right.get_data(as_text=True)
    db.session.expire_all()
    assert accounts.is_locked(user, utcnow())


def test_the_second_step_expires(client, db, reference):
    user = with_password(db, make_user(db.session, "dispatcher"))
    password_step(client, user, "/admin/")
    with client.session_transaction() as session:
        session["two_factor_pending"] = {"id": user.id, "until": time.time() - 1}
    late = client.post("/login/verify?next=/admin/", data={"code": totp_code(db.session, user)})
    assert late.status_code == 303 and late.headers["Location"] == "/login?next=/admin/"
    assert client.get("/admin/").status_code == 302
    assert client.get("/login/verify").headers["Location"] == "/login"  # nothing pending


@pytest.mark.parametrize(
    "app_config",
    [{"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": "3 per minute"}],
)
def test_the_second_step_is_throttled(client, db, reference, app_config):
    user = with_password(db, make_user(db.session, "dispatcher"))
    password_step(client, user)
    codes = [client.post("/login/verify", data={"code": "000000"}).status_code for _ in range(4)]
    assert codes == [422, 422, 422, 429]


@pytest.mark.parametrize("role", ["admin", "dispatcher"])
def test_admins_and_dispatchers_are_sent_to_enroll_first(client, login_as, role):
    login_as(role, two_factor_on=False)
    for path in ("/admin/", "/", "/account/password", "/cases"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["Location"] == "/account/two-factor"
    enroll = client.get("/account/two-factor")
    assert enroll.get_data(as_text=True).count("请先完成设置") == 1
    with client.get("/static/css/site.css") as static:
        assert static.status_code == 200
    assert client.post("/logout").headers["Location"] == "/"


@pytest.mark.parametrize("role", ["handler", "supervisor"])
def test_handlers_and_supervisors_are_not_forced(client, login_as, role):
    login_as(role)
    assert client.get("/account/password").status_code == 200
    home = "/admin/" if role == "handler" else "/supervisor/"
    assert client.get(home).status_code == 200


def test_an_optional_role_turns_it_off_and_a_required_one_cannot(client, db, login_as):
    handler = login_as("handler", two_factor_on=True)
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert 'action="/account/two-factor/disable"' in page
    wrong = client.post("/account/two-factor/disable", data={"off-code": "000000"})
    assert wrong.status_code == 422 and two_factor.is_enabled(db.session, handler)
    code = totp_code(db.session, handler)
    assert client.post("/account/two-factor/disable", data={"off-code": code}).status_code == 303
    assert not two_factor.is_enabled(db.session, handler)

    admin = login_as("admin")
    assert "/account/two-factor/disable" not in client.get("/account/two-factor").get_data(
        as_text=True
    )
    code = totp_code(db.session, admin)
    refused = client.post("/account/two-factor/disable", data={"off-code": code})
    assert refused.status_code == 422 and two_factor.is_enabled(db.session, admin)


def test_new_recovery_codes_need_a_current_code(client, db, login_as):
    user = login_as("dispatcher")
    refused = client.post("/account/two-factor/recovery-codes", data={"code": "000000"})
    assert refused.status_code == 422
    code = totp_code(db.session, user)
    made = client.post("/account/two-factor/recovery-codes", data={"code": code})
    page = made.get_data(as_text=True)
    assert made.status_code == 200 and len(re.findall(r"<code>[a-z0-9-]{11}</code>", page)) == 10


def test_an_admin_resets_a_lost_phone_with_a_reason(client, db, login_as):
    dispatcher = make_user(db.session, "dispatcher")
    admin = login_as("admin")
    users = client.get("/admin/users").get_data(as_text=True)
    url = f"/admin/users/{dispatcher.id}/two-factor"
    assert url in users and f"/admin/users/{admin.id}/two-factor" not in users
    empty = client.post(url, data={"reason": " "})
    assert empty.status_code == 422 and two_factor.is_enabled(db.session, dispatcher)
    # Cancel is a button-sized target beside the reset button, not a bare link touching it.
    assert re.search(
        r'<p class="actions-row">\s*<button[^>]*>[^<]*</button>\s*<a href="/admin/users" '
        r'class="button secondary">',
        empty.get_data(as_text=True),
    )
    done = client.post(url, data={"reason": "手机丢失，已电话核实"})
    assert done.status_code == 303 and not two_factor.is_enabled(db.session, dispatcher)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.2fa.reset"))
    assert entry.after == {"reason": "手机丢失，已电话核实"} and entry.actor_id == admin.id
    assert client.get(url).status_code == 404  # nothing left to reset
    assert client.get(f"/admin/users/{admin.id}/two-factor").status_code == 404

    login_as("dispatcher")
    assert client.get(f"/admin/users/{admin.id}/two-factor").status_code == 403
