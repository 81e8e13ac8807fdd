"""Set-password links: a forgotten password, and the first password of a new account.

A link is signed, expires, and binds a fingerprint of the account's password hash and session
version: setting a password through it (or any other password change, or signing out
everywhere) changes the fingerprint, so each link works once. No password is ever mailed.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import OutboxMessage, User
from portal.services import audit
from portal.services.accounts import MIN_PASSWORD, AccountError, end_sessions, hash_password

SALT = "account-password-link"
RESET, SETUP = "reset", "setup"  # a forgotten password; a new account's first password
PATH = "/password/set/"  # portal.auth.views.set_password


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(user: User) -> str:
    material = f"{user.id}:{user.password_hash}:{user.session_version or 0}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def lifetime(kind: str) -> timedelta:
    """Return how long a link of this kind stays valid (settings)."""
    if kind == SETUP:
        return timedelta(days=current_app.config["ACCOUNT_LINK_DAYS"])
    return timedelta(minutes=current_app.config["PASSWORD_RESET_MINUTES"])


def link(user: User, kind: str) -> str:
    """Return an absolute set-password link for the account, built from PUBLIC_URL."""
    token = _serializer().dumps([user.id, kind, _fingerprint(user)])
    return current_app.config["PUBLIC_URL"] + PATH + token


def account_of(session: Session, token: str, now: datetime) -> tuple[User, str] | None:
    """Return the account and kind a link stands for, or None if forged, expired or used."""
    try:
        payload, issued = _serializer().loads(token, return_timestamp=True)
        user_id, kind, fingerprint = payload
    except (BadSignature, ValueError, TypeError):
        return None
    if (
        kind not in (RESET, SETUP)
        or not isinstance(user_id, int)
        or not isinstance(fingerprint, str)
    ):
        return None
    if now - issued > lifetime(kind):
        return None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(fingerprint, _fingerprint(user)):
        return None
    return user, kind


def request_reset(session: Session, email: str, now: datetime) -> bool:
    """Mail a reset link to an active account with this e-mail; tell whether one was sent.

    The person asking is answered the same either way: the result is for tests and logs only.
    """
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.is_active:
        return False
    url = link(user, RESET)
    with force_locale(user.locale or "zh_Hans_CN"):
        subject = _("Set a new password")
        body = "\n".join(
            [
                _(
                    "Someone, probably you, asked to set a new password for %(email)s.",
                    email=user.email,
                ),
                "",
                _(
                    "Open this link within %(minutes)d minutes to choose it; it works once:",
                    minutes=int(lifetime(RESET).total_seconds() // 60),
                ),
                url,
                "",
                _("If you did not ask, ignore this message: your password stays as it is."),
            ]
        )
    session.add(OutboxMessage(recipient=user.email, subject=subject, body=body, kind="account"))
    audit.record(
        session,
        None,
        "account.reset_request",
        "account",
        user.id,
        now=now,
        actor_label="system: password reset asked",
    )
    return True


def mail_setup_link(session: Session, user: User) -> str:
    """Mail a new account's owner the link to choose their first password; return the link."""
    url = link(user, SETUP)
    with force_locale(user.locale or "zh_Hans_CN"):
        subject = _("Your account on the Municipal Works Public Portal")
        body = "\n".join(
            [
                _(
                    "An account was created for you. Your sign-in name is %(email)s.",
                    email=user.email,
                ),
                "",
                _(
                    "Choose your password within %(days)d days; the link works once:",
                    days=link_days(),
                ),
                url,
                "",
                _("Then sign in at %(url)s", url=current_app.config["PUBLIC_URL"] + "/login"),
            ]
        )
    session.add(OutboxMessage(recipient=user.email, subject=subject, body=body, kind="account"))
    return url


def link_days() -> int:
    """Return how many days a new account's set-password link stays valid."""
    return current_app.config["ACCOUNT_LINK_DAYS"]


def set_password(session: Session, user: User, kind: str, new: str, now: datetime) -> None:
    """Set the password a link was opened for: the link is spent and every session ends."""
    if len(new) < MIN_PASSWORD:
        raise AccountError("password")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    # Proving the mailbox is enough to lift a lock-out from failed sign-ins.
    user.failed_logins, user.locked_until = 0, None
    end_sessions(user)
    audit.record(
        session,
        user,
        "account.password_reset" if kind == RESET else "account.password_set",
        "account",
        user.id,
        now=now,
    )
