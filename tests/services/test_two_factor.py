"""Two-factor sign-in: real TOTP codes at shifted clocks, replays, recovery codes, resets."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from portal.models import AccountTotp, AuditEntry, RecoveryCode
from portal.services import accounts, two_factor
from tests.factories import make_user

NOW = datetime(2026, 11, 29, 10, 0, 7, tzinfo=UTC)


def code_at(db, user, moment):
    """Return what the account's authenticator app shows at a moment."""
    return pyotp.TOTP(db.session.get(AccountTotp, user.id).secret).at(moment)


def actions(db):
    return db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()


@pytest.fixture
def enrolled(db):
    """A handler who enrolled at NOW - 10 minutes, with the recovery codes shown then."""
    user = make_user(db.session, "handler")
    row = two_factor.start_enrollment(db.session, user, NOW)
    earlier = NOW - timedelta(minutes=10)
    codes = two_factor.confirm_enrollment(
        db.session, user, pyotp.TOTP(row.secret).at(earlier), earlier
    )
    db.session.commit()
    return user, codes


def test_enrollment_needs_a_current_code_and_gives_ten_hashed_recovery_codes(db):
    user = make_user(db.session, "supervisor")
    row = two_factor.start_enrollment(db.session, user, NOW)
    assert two_factor.start_enrollment(db.session, user, NOW).secret == row.secret  # reloads
    assert not two_factor.is_enabled(db.session, user)
    with pytest.raises(two_factor.TwoFactorError):
        two_factor.confirm_enrollment(db.session, user, "123456", NOW)
    stale = pyotp.TOTP(row.secret).at(NOW - timedelta(minutes=2))
    with pytest.raises(two_factor.TwoFactorError):
        two_factor.confirm_enrollment(db.session, user, stale, NOW)
    codes = two_factor.confirm_enrollment(db.session, user, pyotp.TOTP(row.secret).at(NOW), NOW)
    assert two_factor.is_enabled(db.session, user)
    assert len(codes) == len(set(codes)) == two_factor.RECOVERY_CODES
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # only digests at rest
    assert "account.2fa.enable" in actions(db)
    uri = two_factor.provisioning_uri(row, user)
    assert uri.startswith("otpauth://totp/") and f"secret={row.secret}" in uri
    assert two_factor.qr_svg(uri).startswith("<svg")


@pytest.mark.parametrize("shift", [-30, 0, 30])
def test_a_code_from_a_clock_thirty_seconds_off_is_accepted(db, enrolled, shift):
    user, _ = enrolled
    code = code_at(db, user, NOW + timedelta(seconds=shift))
    assert two_factor.verify_sign_in(db.session, user, code, NOW)
    assert user.last_login_at == NOW and user.failed_logins == 0


@pytest.mark.parametrize("shift", [-120, -60, 60, 120])
def test_a_code_two_steps_or_more_away_is_refused(db, enrolled, shift):
    user, _ = enrolled
    code = code_at(db, user, NOW + timedelta(seconds=shift))
    assert not two_factor.verify_sign_in(db.session, user, code, NOW)
    assert user.failed_logins == 1


def test_a_used_code_and_older_ones_are_refused(db, enrolled):
    user, _ = enrolled
    current = code_at(db, user, NOW)
    assert two_factor.check(db.session, user, current, NOW) == "totp"
    assert two_factor.check(db.session, user, current, NOW + timedelta(seconds=5)) is None
    older = code_at(db, user, NOW - timedelta(seconds=30))
    assert two_factor.check(db.session, user, older, NOW) is None  # still in the window
    later = NOW + timedelta(seconds=30)
    assert two_factor.check(db.session, user, code_at(db, user, later), later) == "totp"


def test_a_recovery_code_works_once_and_is_audited(db, enrolled):
    user, codes = enrolled
    typed = " " + codes[3].upper().replace("-", " ") + " "  # as read out over the phone
    assert two_factor.verify_sign_in(db.session, user, typed, NOW)
    assert not two_factor.verify_sign_in(db.session, user, codes[3], NOW)
    assert two_factor.recovery_codes_left(db.session, user) == 9
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.2fa.recovery"))
    assert entry.after == {"left": 9}


def test_wrong_codes_lock_the_account_and_the_password_alone_does_not_clear_them(db, enrolled):
    user, _ = enrolled
    user.password_hash = accounts.hash_password("correct horse battery")
    for _ in range(accounts.MAX_FAILURES - 1):
        assert not two_factor.verify_sign_in(db.session, user, "000000", NOW)
        # A right password between wrong codes does not start the count afresh.
        assert accounts.authenticate(db.session, user.email, "correct horse battery", NOW)
    assert not two_factor.verify_sign_in(db.session, user, "000000", NOW)
    assert accounts.is_locked(user, NOW) and "account.lock" in actions(db)
    assert not two_factor.verify_sign_in(db.session, user, code_at(db, user, NOW), NOW)


def test_new_recovery_codes_need_a_code_and_replace_the_old(db, enrolled):
    user, old = enrolled
    with pytest.raises(two_factor.TwoFactorError):
        two_factor.regenerate_recovery_codes(db.session, user, "000000", NOW)
    new = two_factor.regenerate_recovery_codes(db.session, user, code_at(db, user, NOW), NOW)
    assert two_factor.check(db.session, user, old[0], NOW) is None
    assert two_factor.check(db.session, user, new[0], NOW) == "recovery"
    assert "account.2fa.regenerate" in actions(db)


def test_only_optional_roles_turn_it_off_and_only_with_a_code(db, enrolled):
    user, _ = enrolled
    with pytest.raises(two_factor.TwoFactorError, match="code"):
        two_factor.disable(db.session, user, "000000", NOW)
    two_factor.disable(db.session, user, code_at(db, user, NOW), NOW)
    assert not two_factor.is_enabled(db.session, user)
    assert db.session.scalar(select(RecoveryCode)) is None
    assert "account.2fa.disable" in actions(db)
    admin = make_user(db.session, "admin")
    with pytest.raises(two_factor.TwoFactorError, match="required"):
        two_factor.disable(db.session, admin, code_at(db, admin, NOW), NOW)
    assert two_factor.is_enabled(db.session, admin)


def test_an_admin_resets_another_account_with_a_reason(db, enrolled):
    user, codes = enrolled
    admin = make_user(db.session, "admin")
    with pytest.raises(two_factor.TwoFactorError, match="reason"):
        two_factor.reset(db.session, admin, user, "  ", NOW)
    with pytest.raises(two_factor.TwoFactorError, match="self"):
        two_factor.reset(db.session, admin, admin, "lost phone", NOW)
    two_factor.reset(db.session, admin, user, "手机丢失，电话核实", NOW)
    assert not two_factor.is_enabled(db.session, user)
    assert two_factor.check(db.session, user, codes[0], NOW) is None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.2fa.reset"))
    assert entry.actor_id == admin.id and entry.after == {"reason": "手机丢失，电话核实"}
    assert entry.object_id == str(user.id)
