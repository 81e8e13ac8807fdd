"""The block list: staff list addresses, e-mails and phones; what they send is held for review."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from portal.models import (
    BLOCK_KINDS,
    BlockedSender,
    Case,
    ConsultationComment,
    Suggestion,
    User,
)
from portal.services import audit

# The widest network anyone may list without an admin confirming why: wider ones hold whole
# providers or, like 0.0.0.0/0 or a proxy's 127.0.0.0/8, every report the portal receives.
WIDEST_PREFIX = {4: 16, 6: 48}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockError(ValueError):
    """Raised with a code when an entry cannot be added: kind, value, host_bits, single,
    wide, wide_reason, reason or exists; `suggestion` carries the network meant, if any."""

    def __init__(self, code: str, suggestion: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.suggestion = suggestion


def canonical(network: Network) -> Network:
    """Return an IPv4-mapped IPv6 network (::ffff:a.b.c.d/n, n >= 96) as the IPv4 network it is."""
    mapped = network.network_address.ipv4_mapped if network.version == 6 else None
    if mapped is None or network.prefixlen < 96:
        return network
    return ipaddress.ip_network((mapped, network.prefixlen - 96))


def parse_network(value: str) -> Network:
    """Return the network an address or CIDR range names, IPv4-mapped ones as IPv4; raise
    BlockError("value") if it is none, BlockError("host_bits") if bits past the prefix are set
    (203.0.113.9/24: the address or the network?)."""
    if "%" in value:  # a zone index names a link on the server, not a sender
        raise BlockError("value")
    try:
        return canonical(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        try:
            meant = canonical(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise BlockError("value") from error
        raise BlockError("host_bits", str(meant)) from error


def check_width(user: User, network: Network, confirmed: bool, wide_reason: str) -> None:
    """Refuse a network its author may not list: dispatchers list single addresses only, and a
    network wider than WIDEST_PREFIX needs an admin who confirms it with a reason."""
    if network.prefixlen == network.max_prefixlen:
        return
    if user.role != "admin":
        raise BlockError("single")
    if network.prefixlen >= WIDEST_PREFIX[network.version]:
        return
    if not confirmed:
        raise BlockError("wide")
    if not wide_reason.strip():
        raise BlockError("wide_reason")


def is_wide(value: str) -> bool:
    """Tell whether a stored address entry is wider than WIDEST_PREFIX."""
    network = canonical(ipaddress.ip_network(value))
    return network.prefixlen < WIDEST_PREFIX[network.version]


def normalize(kind: str, value: str) -> str:
    """Return the form an entry is stored and compared in; raise BlockError("value") if the
    value is not an address (or network), an e-mail or a phone of that kind, and
    BlockError("host_bits") for a network written with an address inside it."""
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
        return str(parse_network(value))
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
    *,
    confirmed: bool = False,
    wide_reason: str = "",
) -> BlockedSender:
    """List a sender, with the reason; a network wider than WIDEST_PREFIX only by an admin who
    confirms it, with a reason of its own. The change is audited."""
    if kind not in BLOCK_KINDS:
        raise BlockError("kind")
    normalized = normalize(kind, value)
    if kind == "ip":
        check_width(user, ipaddress.ip_network(normalized), confirmed, wide_reason)
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
    after = _snapshot(entry)
    if kind == "ip" and is_wide(normalized):
        after["wide_confirmed_because"] = wide_reason.strip()
    audit.record(session, user, "blocklist.add", "blocked_sender", entry.id, after=after, now=now)
    return entry


def remove(session: Session, user: User, entry: BlockedSender, now: datetime) -> None:
    """Take a sender off the list (what it held stays held for review); the change is audited."""
    audit.record(
        session,
        user,
        "blocklist.remove",
        "blocked_sender",
        entry.id,
        before=_snapshot(entry),
        now=now,
    )
    # SQLite does not enforce ON DELETE SET NULL unless told to; do it here for both databases.
    for model in (Case, ConsultationComment, Suggestion):
        session.execute(
            update(model)
            .where(model.blocked_sender_id == entry.id)
            .values(blocked_sender_id=None)
            .execution_options(synchronize_session=False)
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
    return match(session, now, ip=ip, email=email, phone=phone) is not None


def match(
    session: Session, now: datetime, *, ip: str = "", email: str = "", phone: str = ""
) -> BlockedSender | None:
    """Return the entry that blocks a sender now (its e-mail, phone, then address), or None."""
    for kind, value in (("email", email), ("phone", phone)):
        if not value:
            continue
        try:
            normalized = normalize(kind, value)
        except BlockError:
            continue
        found = session.scalar(
            select(BlockedSender).where(
                BlockedSender.kind == kind, BlockedSender.value == normalized, _active(now)
            )
        )
        if found is not None:
            return found
    address = _address(ip)
    if address is None:
        return None
    entries = session.scalars(
        select(BlockedSender)
        .where(BlockedSender.kind == "ip", _active(now))
        .order_by(BlockedSender.id)
    )
    # Stored networks are canonical already; canonical() again covers entries listed before.
    return next((e for e in entries if address in canonical(ipaddress.ip_network(e.value))), None)


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return a client address as compared: a dual-stack socket's ::ffff:a.b.c.d as IPv4."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    mapped = address.ipv4_mapped if address.version == 6 else None
    return mapped or address
