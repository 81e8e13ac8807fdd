"""Record staff actions in the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from portal.models import AuditEntry, User, utcnow


def record(
    session: Session,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    now: datetime | None = None,
    actor_label: str = "",
) -> AuditEntry:
    """Append one entry: who did what to which object, before and after, when, from where."""
    entry = AuditEntry(
        actor=actor,
        actor_label=actor_label or (f"{actor.name} <{actor.email}>" if actor else "system"),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=_plain(before or {}),
        after=_plain(after or {}),
        address=(request.remote_addr or "") if has_request_context() else "cli",
        created_at=now or utcnow(),
    )
    session.add(entry)
    return entry


def record_download(
    session: Session, actor: User, what: str, with_contacts: bool, object_id: object = ""
) -> AuditEntry:
    """Record that a staff member downloaded an export (with its filters) or a file."""
    query = request.query_string.decode(errors="replace")[:500] if has_request_context() else ""
    return record(
        session,
        actor,
        "download",
        what,
        object_id,
        after={"filters": query, "contacts": with_contacts},
    )


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Make values JSON-safe (datetimes as ISO text)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
