"""Staff and supervisor accounts: passwords, sign-in with lock-out, creation, disabling."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import ROLES, AccountTotp, Department, User
from portal.services import audit

HASHER = PasswordHasher()
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 10
# Checked when the e-mail is unknown or the account has no password yet, so that every sign-in
# answer costs one argon2 verification. Its parameters are the hasher's (a test keeps them so).
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$SNBqoigiJAA7qskhfLW2CQ"
    "$OA1qNCDMXRgYOqCF90hKLerIT5wXWJBu5WExMLKGk/E"
)


class AccountError(ValueError):
    """Raised when an account cannot be created or changed as asked."""


def hash_password(password: str) -> str:
    """Return the argon2id hash of a password."""
    return HASHER.hash(password)


def check_password(user: User, password: str) -> bool:
    """Tell whether the password is the user's."""
    return bool(user.password_hash) and _verify(user.password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """Return a random password to hand over once."""
    return secrets.token_urlsafe(12)


def create(
    session: Session,
    actor: User | None,
    email: str,
    name: str,
    role: str,
    password: str | None = None,
    department: Department | None = None,
    now: datetime | None = None,
    *,
    must_change_password: bool = False,
) -> User:
    """Create an account; a handler needs a department.

    Without a password the account cannot sign in until its owner sets one through a
    set-password link (portal.services.password_links).
    """
    email = email.strip().lower()
    if role not in ROLES:
        raise AccountError("role")
    if role == "handler" and department is None:
        raise AccountError("department")
    if password is not None and len(password) < MIN_PASSWORD:
        raise AccountError("password")
    if session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise AccountError("email")
    user = User(
        email=email,
        name=name.strip() or email,
        role=role,
        department=department,
        password_hash=hash_password(password) if password is not None else "",
        must_change_password=must_change_password and password is not None,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "account.create",
        "account",
        user.id,
        after={"email": email, "role": role, "department": department.code if department else None},
        now=now,
    )
    return user


def end_sessions(user: User) -> None:
    """End every session of the user, remember-me cookies included, on every device.

    Sessions carry the version they were signed in with (User.get_id); the user loader
    refuses any other, so bumping it is enough, whatever worker or database serves them.
    """
    user.session_version = (user.session_version or 0) + 1


def set_active(session: Session, actor: User, user: User, active: bool, now: datetime) -> None:
    """Enable or disable an account; either way its sessions end."""
    before = user.active
    user.active = active
    end_sessions(user)
    audit.record(
        session,
        actor,
        "account.enable" if active else "account.disable",
        "account",
        user.id,
        before={"active": before},
        after={"active": active},
        now=now,
    )


def set_role(
    session: Session,
    actor: User | None,
    user: User,
    role: str,
    department: Department | None,
    now: datetime,
) -> None:
    """Give an account another role (a handler needs a department); its sessions end."""
    if role not in ROLES:
        raise AccountError("role")
    if role == "handler" and department is None:
        raise AccountError("department")
    before = {"role": user.role, "department": user.department.code if user.department else None}
    user.role, user.department = role, department
    end_sessions(user)
    audit.record(
        session,
        actor,
        "account.role",
        "account",
        user.id,
        before=before,
        after={"role": role, "department": department.code if department else None},
        now=now,
    )


def change_password(session: Session, user: User, old: str, new: str, now: datetime) -> None:
    """Change a user's own password after checking the old one; every session ends."""
    if not check_password(user, old):
        raise AccountError("old")
    if len(new) < MIN_PASSWORD:
        raise AccountError("password")
    if new == old:
        raise AccountError("same")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    end_sessions(user)
    audit.record(session, user, "account.password", "account", user.id, now=now)


def sign_out_everywhere(session: Session, user: User, now: datetime) -> None:
    """End every session of the user, this one included, at their own request."""
    end_sessions(user)
    audit.record(session, user, "account.sign_out_everywhere", "account", user.id, now=now)


def authenticate(session: Session, email: str, password: str, now: datetime) -> User | None:
    """Return the account if the password is right; lock it after repeated failures.

    The password is verified against a hash before anything else is decided, a dummy one
    for an unknown address: unknown, locked, disabled and wrong all take the same time.
    """
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    known = user is not None and bool(user.password_hash)
    right = _verify(user.password_hash if known else DUMMY_HASH, password)
    if user is None or not known or not user.is_active or is_locked(user, now):
        reason = "unknown" if not known else "disabled" if not user.is_active else "locked"
        record_failed_sign_in(session, email, user, reason, now)
        return None
    if not right:
        record_failure(session, user, now)
        record_failed_sign_in(session, email, user, "password", now)
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # With a second factor, the password alone must not wipe the count of wrong codes.
    if not _has_second_factor(session, user):
        finish_sign_in(user, now)
        record_sign_in(session, user, now)
    return user


def record_sign_in(session: Session, user: User, now: datetime) -> None:
    """Put a completed sign-in (every factor right) in the audit log."""
    audit.record(session, user, "auth.sign_in", "account", user.id, now=now)


def record_failed_sign_in(
    session: Session, email: str, user: User | None, reason: str, now: datetime
) -> None:
    """Put a refused sign-in in the audit log: the address typed and why (unknown, disabled,
    locked, password, code); the person trying is told none of this."""
    audit.record(
        session,
        None,
        "auth.sign_in_failed",
        "account",
        user.id if user is not None else "",
        after={"reason": reason},
        now=now,
        actor_label=(email or "").strip().lower()[:255] or "(empty)",
    )


def record_sign_out(session: Session, user: User, now: datetime) -> None:
    """Put a sign-out in the audit log."""
    audit.record(session, user, "auth.sign_out", "account", user.id, now=now)


def record_failure(session: Session, user: User, now: datetime) -> None:
    """Count a wrong password or code; lock the account after MAX_FAILURES in a row."""
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILURES:
        user.locked_until = now + LOCK_FOR
        user.failed_logins = 0
        audit.record(
            session,
            None,
            "account.lock",
            "account",
            user.id,
            after={"locked_until": user.locked_until},
            now=now,
            actor_label="system: too many failed sign-ins",
        )


def finish_sign_in(user: User, now: datetime) -> None:
    """Clear the failure count and note the sign-in, once every factor is right."""
    user.failed_logins = 0
    user.last_login_at = now


def _has_second_factor(session: Session, user: User) -> bool:
    enabled = session.scalar(
        select(AccountTotp.enabled_at).where(AccountTotp.account_id == user.id)
    )
    return enabled is not None


def is_locked(user: User | None, now: datetime) -> bool:
    """Tell whether an account is locked out right now."""
    return user is not None and user.locked_until is not None and user.locked_until > now
