"""The block list: staff list addresses, e-mails and phones; what they send is held for review."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.models import BLOCK_KINDS, BlockedSender, User
from portal.services import audit


class BlockError(ValueError):
    """Raised with a code when an entry cannot be added: kind, value, reason or exists."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def normalize(kind: str, value: str) -> str:
    """Return the form an entry is stored and compared in; raise BlockError("value") if the
    value is not an address (or network), an e-mail or a phone of that kind."""
    value = (value or "").strip()
    if kind == "email":
        try:
            return validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            raise BlockError("value") from error
    if kind == "phone":
        digits = re.sub(r"\D", "", value)
        # The same mobile written +86 138…, 0086 138… or 138…: compare the national number.
        for prefix in ("0086", "86"):
            if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
                digits = digits[len(prefix) :]
        if not 5 <= len(digits) <= 20:
            raise BlockError("value")
        return digits
    if kind == "ip":
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError as error:
            raise BlockError("value") from error
    raise BlockError("kind")


def _active(now: datetime):
    return or_(BlockedSender.expires_at.is_(None), BlockedSender.expires_at > now)


def listed(session: Session) -> list[BlockedSender]:
    """Return every entry, newest first (expired ones too, so staff see and remove them)."""
    query = select(BlockedSender).order_by(BlockedSender.created_at.desc(), BlockedSender.id.desc())
    return list(session.scalars(query))


def add(
    session: Session,
    user: User,
    kind: str,
    value: str,
    reason: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> BlockedSender:
    """List a sender, with the reason; the change is audited."""
    if kind not in BLOCK_KINDS:
        raise BlockError("kind")
    normalized = normalize(kind, value)
    if not reason.strip():
        raise BlockError("reason")
    exists = session.scalar(
        select(BlockedSender.id).where(
            BlockedSender.kind == kind, BlockedSender.value == normalized
        )
    )
    if exists is not None:
        raise BlockError("exists")
    entry = BlockedSender(
        kind=kind,
        value=normalized,
        reason=reason.strip(),
        created_by=user,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(entry)
    session.flush()
    audit.record(session, user, "blocklist.add", "blocked_sender", entry.id, after=_snapshot(entry))
    return entry


def remove(session: Session, user: User, entry: BlockedSender, now: datetime) -> None:
    """Take a sender off the list; the change is audited."""
    audit.record(
        session, user, "blocklist.remove", "blocked_sender", entry.id, before=_snapshot(entry)
    )
    session.delete(entry)
    session.flush()


def _snapshot(entry: BlockedSender) -> dict:
    return {
        "kind": entry.kind,
        "value": entry.value,
        "reason": entry.reason,
        "expires_at": entry.expires_at,
    }


def is_blocked(
    session: Session, now: datetime, *, ip: str = "", email: str = "", phone: str = ""
) -> bool:
    """Tell whether any of a sender's address, e-mail or phone is on the list now."""
    wanted = []
    for kind, value in (("email", email), ("phone", phone)):
        if value:
            try:
                wanted.append((kind, normalize(kind, value)))
            except BlockError:
                continue
    for kind, value in wanted:
        found = session.scalar(
            select(BlockedSender.id).where(
                BlockedSender.kind == kind, BlockedSender.value == value, _active(now)
            )
        )
        if found is not None:
            return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    networks = session.scalars(
        select(BlockedSender.value).where(BlockedSender.kind == "ip", _active(now))
    )
    return any(address in ipaddress.ip_network(network) for network in networks)
