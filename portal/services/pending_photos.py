"""Photos of a report form that came back with an error: already checked and cleaned, kept in
the photo store under the form's random token, attached to no case and shown only to that
form (through signed links), until the report is accepted or a day has passed."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.models import Case, PendingPhoto, Photo
from portal.services import singleton
from portal.services.photos import STORE_LOCK, PhotoStore, ProcessedPhoto, save_for_session

FORM_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
MAX_AGE = timedelta(days=1)
LINK_SALT = "pending-photo"


def new_form_token() -> str:
    """Return a fresh random token naming one report form's pending photos."""
    return secrets.token_urlsafe(32)


def is_form_token(token: str | None) -> bool:
    """Tell whether a value has the shape of a form token."""
    return bool(token and FORM_TOKEN.match(token))


def kept(session: Session, token: str, now: datetime) -> list[PendingPhoto]:
    """Return a form's pending photos that are still kept, in the order they were added."""
    if not is_form_token(token):
        return []
    return list(
        session.scalars(
            select(PendingPhoto)
            .where(PendingPhoto.form_token == token, PendingPhoto.created_at > now - MAX_AGE)
            .order_by(PendingPhoto.position, PendingPhoto.id)
        )
    )


def keep(
    session: Session,
    store: PhotoStore,
    token: str,
    photos: Iterable[ProcessedPhoto],
    now: datetime,
) -> list[PendingPhoto]:
    """Store checked photos as a form's pending photos (the files are deleted again if the
    transaction rolls back); return the new rows."""
    start = len(kept(session, token, now))
    rows = []
    for position, photo in enumerate(photos, start=start):
        save_for_session(session, store, photo)
        row = PendingPhoto(
            form_token=token,
            sha256=photo.sha256,
            position=position,
            width=photo.width,
            height=photo.height,
            gps_lat=photo.gps[0] if photo.gps else None,
            gps_lng=photo.gps[1] if photo.gps else None,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def remove(session: Session, token: str, ids: Iterable[int]) -> None:
    """Drop some of a form's pending photos (the files go with the next clean-up)."""
    ids = list(ids)
    if ids and is_form_token(token):
        session.execute(
            delete(PendingPhoto).where(PendingPhoto.form_token == token, PendingPhoto.id.in_(ids))
        )


def attach(session: Session, store: PhotoStore, case: Case, token: str, now: datetime) -> int:
    """Attach a form's pending photos to the case it became, in the same transaction; return
    how many. A photo whose file has gone meanwhile is dropped, never attached."""
    start = len(case.photos)
    attached = 0
    singleton.hold(session, STORE_LOCK, shared=True)
    for row in kept(session, token, now):
        # Claimed under the store's lock, so the orphan sweep leaves the files alone even if
        # the pending row it saw is being replaced by this Photo row.
        if store.keep(row.sha256):
            session.add(
                Photo(
                    case=case,
                    sha256=row.sha256,
                    kind="report",
                    position=start + attached,
                    width=row.width,
                    height=row.height,
                    created_at=now,
                )
            )
            attached += 1
        session.delete(row)
    session.flush()
    return attached


def purge(session: Session, now: datetime, max_age: timedelta = MAX_AGE) -> int:
    """Delete the pending photos older than `max_age`; return how many. Their files, no
    longer referenced, go with the orphan sweep."""
    result = session.execute(delete(PendingPhoto).where(PendingPhoto.created_at <= now - max_age))
    return result.rowcount or 0


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def _token_digest(token: str) -> str:
    # The link names the form by a digest, so it does not reveal the token itself.
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def link_key(row: PendingPhoto) -> str:
    """Return the signed key of a pending photo's thumbnail link."""
    return str(_serializer().dumps([row.id, _token_digest(row.form_token)]))


def from_link_key(session: Session, key: str, now: datetime) -> PendingPhoto | None:
    """Return the pending photo a signed link names, if the link is genuine and still fresh."""
    try:
        photo_id, digest = _serializer().loads(key, max_age=int(MAX_AGE.total_seconds()))
    except (BadSignature, ValueError, TypeError):
        return None
    row = session.get(PendingPhoto, photo_id) if isinstance(photo_id, int) else None
    if row is None or _token_digest(row.form_token) != digest:
        return None
    return row if row.created_at > now - MAX_AGE else None
