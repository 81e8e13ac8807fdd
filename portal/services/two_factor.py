"""Two-factor sign-in: TOTP enrollment, codes with replay refusal, recovery codes, resets."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.models import AccountTotp, RecoveryCode, User
from portal.services import accounts, audit

# Admins and dispatchers can change routing, accounts and every case: a password is not enough.
REQUIRED_ROLES = ("admin", "dispatcher")
ISSUER = "市政工程公众参与平台"
STEP_SECONDS = 30
# One step either side (±30 s) for phones whose clocks drift, as pyotp's valid_window=1.
VALID_WINDOW = 1
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class TwoFactorError(ValueError):
    """Raised when a second-factor change is refused; args[0] names the reason."""


def is_required(user: User) -> bool:
    """Tell whether the account's role must sign in with a second factor."""
    return user.role in REQUIRED_ROLES


def totp_row(session: Session, user: User) -> AccountTotp | None:
    """Return the account's TOTP row, enabled or pending."""
    return session.get(AccountTotp, user.id)


def is_enabled(session: Session, user: User) -> bool:
    """Tell whether the account signs in with a second factor."""
    row = totp_row(session, user)
    return row is not None and row.enabled_at is not None


def enabled_ids(session: Session) -> set[int]:
    """Return the ids of every account with a second factor, for the accounts list."""
    query = select(AccountTotp.account_id).where(AccountTotp.enabled_at.is_not(None))
    return set(session.scalars(query))


def start_enrollment(session: Session, user: User, now: datetime) -> AccountTotp:
    """Return the account's pending secret, creating one on the first visit."""
    row = totp_row(session, user)
    if row is not None and row.enabled_at is not None:
        raise TwoFactorError("enabled")
    if row is None:
        row = AccountTotp(account_id=user.id, secret=pyotp.random_base32(), created_at=now)
        session.add(row)
        session.flush()
    return row


def provisioning_uri(row: AccountTotp, user: User) -> str:
    """Return the otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(row.secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """Return the URI as an inline SVG QR code (no image library, no script)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = image.to_string(encoding="unicode")
    # Inline in HTML: the XML declaration is not allowed there.
    return svg.split("?>", 1)[-1].strip() if svg.startswith("<?xml") else svg


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """Return the time-step whose code this is, within ±VALID_WINDOW steps of now."""
    code = _digits(code)
    if code is None:
        return None
    totp = pyotp.TOTP(secret)
    if not totp.verify(code, for_time=now, valid_window=VALID_WINDOW):
        return None
    current = totp.timecode(now)
    # Newest first: a code seen in two steps (1 in 10^6) counts as the latest.
    for step in range(current + VALID_WINDOW, current - VALID_WINDOW - 1, -1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def confirm_enrollment(session: Session, user: User, code: str, now: datetime) -> list[str]:
    """Enable the pending secret if the code is current; return the new recovery codes."""
    row = start_enrollment(session, user, now)
    step = matching_step(row.secret, code, now)
    if step is None:
        raise TwoFactorError("code")
    row.enabled_at = now
    row.last_step = step
    codes = _new_recovery_codes(session, user, now)
    audit.record(session, user, "account.2fa.enable", "account", user.id, now=now)
    return codes


def enroll(session: Session, user: User, now: datetime, actor: User | None = None) -> str:
    """Enable a fresh secret without a code (demo accounts); return the base32 seed."""
    _remove(session, user)
    row = AccountTotp(account_id=user.id, secret=pyotp.random_base32(), created_at=now)
    row.enabled_at = now
    session.add(row)
    session.flush()
    audit.record(session, actor, "account.2fa.enable", "account", user.id, now=now)
    return row.secret


def check(session: Session, user: User, code: str, now: datetime) -> str | None:
    """Accept a current, unused TOTP code or an unused recovery code once.

    Return "totp" or "recovery" for an accepted code, None for a refused one; a recovery
    code is used up and its use audited.
    """
    row = totp_row(session, user)
    if row is None or row.enabled_at is None:
        return None
    step = matching_step(row.secret, code, now)
    if step is not None:
        if row.last_step is not None and step <= row.last_step:
            return None  # replayed, or older than one already used
        row.last_step = step
        return "totp"
    recovery = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.account_id == user.id,
            RecoveryCode.code_hash == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if recovery is None:
        return None
    recovery.used_at = now
    session.flush()
    left = _recovery_codes_left(session, user)
    audit.record(
        session, user, "account.2fa.recovery", "account", user.id, after={"left": left}, now=now
    )
    return "recovery"


def verify_sign_in(session: Session, user: User, code: str, now: datetime) -> bool:
    """Finish a sign-in with a code; a wrong code counts toward the lock-out."""
    if not user.is_active or accounts.is_locked(user, now):
        accounts.record_failed_sign_in(session, user.email, user, "locked", now)
        return False
    if check(session, user, code, now) is None:
        accounts.record_failure(session, user, now)
        accounts.record_failed_sign_in(session, user.email, user, "code", now)
        return False
    accounts.finish_sign_in(user, now)
    accounts.record_sign_in(session, user, now)
    return True


def regenerate_recovery_codes(session: Session, user: User, code: str, now: datetime) -> list[str]:
    """Replace every recovery code after checking a current code; return the new ones."""
    if check(session, user, code, now) is None:
        raise TwoFactorError("code")
    codes = _new_recovery_codes(session, user, now)
    audit.record(session, user, "account.2fa.regenerate", "account", user.id, now=now)
    return codes


def disable(session: Session, user: User, code: str, now: datetime) -> None:
    """Turn the second factor off after checking a current code, where the role allows it."""
    if is_required(user):
        raise TwoFactorError("required")
    if check(session, user, code, now) is None:
        raise TwoFactorError("code")
    _remove(session, user)
    audit.record(session, user, "account.2fa.disable", "account", user.id, now=now)


def reset(session: Session, actor: User, user: User, reason: str, now: datetime) -> None:
    """Remove another account's second factor (a lost phone); it enrolls again."""
    reason = reason.strip()
    if not reason:
        raise TwoFactorError("reason")
    if actor.id == user.id:
        raise TwoFactorError("self")
    if not is_enabled(session, user):
        raise TwoFactorError("not_enabled")
    _remove(session, user)
    audit.record(
        session, actor, "account.2fa.reset", "account", user.id, after={"reason": reason}, now=now
    )


def recovery_codes_left(session: Session, user: User) -> int:
    """Return how many recovery codes the account has not used."""
    return _recovery_codes_left(session, user)


def _recovery_codes_left(session: Session, user: User) -> int:
    query = select(RecoveryCode.id).where(
        RecoveryCode.account_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return len(session.scalars(query).all())


def _new_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        session.add(RecoveryCode(account_id=user.id, code_hash=_digest(code), created_at=now))
    session.flush()
    return codes


def _remove(session: Session, user: User) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == user.id))
    row = totp_row(session, user)
    if row is not None:
        session.delete(row)
        session.flush()


def _digest(code: str) -> str:
    """Hash a recovery code as typed, ignoring case, spaces and dashes.

    SHA-256 without salt is enough: each code holds about 49 random bits and is used once.
    """
    normal = "".join(c for c in code.lower() if c.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


def _digits(code: str) -> str | None:
    digits = "".join(code.split())
    return digits if len(digits) == 6 and digits.isascii() and digits.isdigit() else None
