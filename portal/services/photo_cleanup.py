"""Photo files and the rows that point at them: find files no row points at (left by a
crash between writing a file and committing its row, or by a report form's pending photos
once purged) and rows whose file is missing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    Detection,
    InspectionPhoto,
    Moderation,
    Notice,
    PendingPhoto,
    Photo,
    SiteCheckPhoto,
    utcnow,
)
from portal.services import pending_photos, singleton
from portal.services.photos import PART_SUFFIX, SHA256, STORE_LOCK, PhotoStore

# Every column that holds the hash of a stored photo.
# A report form's pending photos count too, until they are purged (a day after upload).
REFERENCES = (
    Photo.sha256,
    InspectionPhoto.sha256,
    SiteCheckPhoto.sha256,
    Notice.cover_sha256,
    PendingPhoto.sha256,
    # A blurred photo's original, kept for staff (and for an undo), and its blurred copy.
    Moderation.original_sha256,
    Moderation.blurred_sha256,
    Detection.snapshot_sha256,
)
# An upload in flight writes its file before its row is committed: leave young files alone.
GRACE_SECONDS = 3600


@dataclass
class Sweep:
    """What a sweep of the photo store found (object keys)."""

    orphans: list[str] = field(default_factory=list)
    recent: int = 0
    missing: list[str] = field(default_factory=list)
    referenced: int = 0
    purged: int = 0


def referenced(session: Session) -> set[str]:
    """Return the hashes of every photo a row points at."""
    found: set[str] = set()
    for column in REFERENCES:
        found.update(h for h in session.scalars(select(column).distinct()) if h)
    return found


def _sha(key: str) -> str | None:
    """Return the photo hash a stored object belongs to, "" for an unfinished temporary file,
    or None for an object the store never writes (left alone)."""
    folder, _, name = key.rpartition("/")
    if len(folder) != 2 or "/" in folder:
        return None
    if name.endswith(PART_SUFFIX):
        return ""
    stem = name.removesuffix("_t.jpg") if name.endswith("_t.jpg") else name.removesuffix(".jpg")
    if name.endswith(".jpg") and SHA256.match(stem) and folder == stem[:2]:
        return stem
    return None


def sweep(
    session: Session,
    store: PhotoStore,
    *,
    grace: float = GRACE_SECONDS,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Sweep:
    """Purge report forms' pending photos older than a day, then delete objects no row points
    at and older than the grace period (unfinished temporary files included); list rows
    whose objects are missing. The purge is committed before the objects are judged.

    On PostgreSQL the sweep holds the photo store's lock alone while it judges: every
    transaction that wrote or claimed an object has ended, on every node, so the rows read
    are those that will point at objects."""
    purged = 0
    if not dry_run:
        purged = pending_photos.purge(session, now or utcnow())
        session.commit()
    singleton.hold(session, STORE_LOCK)
    try:
        return _judge(session, store, grace, dry_run, purged)
    finally:
        session.commit()  # ends the transaction, and with it the lock


def _judge(session: Session, store: PhotoStore, grace: float, dry_run: bool, purged: int) -> Sweep:
    hashes = referenced(session)
    result = Sweep(referenced=len(hashes), purged=purged)
    cutoff = time.time() - grace
    present: set[str] = set()
    candidates = []
    for found in store.backend.list():
        sha = _sha(found.key)
        if sha is None:
            continue
        present.add(found.key)
        if sha not in hashes:
            candidates.append(found.key)
    result.missing = sorted(
        h for h in hashes if not {store.key(h), store.key(h, "thumb")} <= present
    )
    with store.locked():
        for key in candidates:
            # Checked again under the lock: a writer may just have claimed the object.
            found = store.backend.head(key)
            if found is None:
                continue
            if found.modified > cutoff:
                result.recent += 1
                continue
            if not dry_run:
                store.backend.delete(key)
            result.orphans.append(key)
    return result
