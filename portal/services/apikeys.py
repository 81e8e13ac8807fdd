"""API keys of outside systems (Open311 clients)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import ApiKey, User
from portal.services import audit


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(session: Session, name: str, now: datetime) -> tuple[ApiKey, str]:
    """Create a key for a named system; return the row and the key, shown only once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("the name must have 1 to 100 characters")
    key = secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=key[:8], key_hash=_digest(key), created_at=now)
    session.add(row)
    session.flush()
    return row, key


def verify(session: Session, key: str) -> ApiKey | None:
    """Return the live key matching what a client sent, if any."""
    if not key or len(key) > 200:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def listed(session: Session) -> list[ApiKey]:
    """Return every key, live ones first, newest first."""
    return list(
        session.scalars(
            select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
        )
    )


def revoke(session: Session, user: User, key: ApiKey, now: datetime) -> None:
    """Revoke a key: the system that holds it can post no more; audited."""
    if key.revoked_at is not None:
        return
    key.revoked_at = now
    session.flush()
    audit.record(
        session,
        user,
        "apikey.revoke",
        "api_key",
        key.id,
        {"name": key.name, "prefix": key.prefix, "revoked_at": None},
        {"name": key.name, "prefix": key.prefix, "revoked_at": now},
        now=now,
    )


def set_mail_reporters(
    session: Session, user: User, key: ApiKey, allow: bool, now: datetime
) -> None:
    """Let the portal mail (or stop it mailing) the reporters of the cases a key posts; audited."""
    if key.mail_reporters == allow:
        return
    key.mail_reporters = allow
    session.flush()
    audit.record(
        session,
        user,
        "apikey.mail_reporters",
        "api_key",
        key.id,
        {"name": key.name, "mail_reporters": not allow},
        {"name": key.name, "mail_reporters": allow},
        now=now,
    )
