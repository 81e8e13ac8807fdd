"""Photo files and the rows that point at them: find files no row points at (left by a
crash between writing a file and committing its row, or by a report form's pending photos
once purged) and rows whose file is missing."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import InspectionPhoto, Notice, PendingPhoto, Photo, SiteCheckPhoto, utcnow
from portal.services import pending_photos
from portal.services.photos import PART_SUFFIX, SHA256, PhotoStore

# Every column that holds the hash of a stored photo.
# A report form's pending photos count too, until they are purged (a day after upload).
REFERENCES = (
    Photo.sha256,
    InspectionPhoto.sha256,
    SiteCheckPhoto.sha256,
    Notice.cover_sha256,
    PendingPhoto.sha256,
)
# An upload in flight writes its file before its row is committed: leave young files alone.
GRACE_SECONDS = 3600


@dataclass
class Sweep:
    """What a sweep of the photo store found."""

    orphans: list[Path] = field(default_factory=list)
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


def _sha(path: Path) -> str | None:
    """Return the photo hash a stored file belongs to, or None for a file the store never
    writes (left alone)."""
    name = path.name
    if name.endswith(PART_SUFFIX):
        return ""
    stem = name.removesuffix("_t.jpg") if name.endswith("_t.jpg") else name.removesuffix(".jpg")
    if name.endswith(".jpg") and SHA256.match(stem) and path.parent.name == stem[:2]:
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
    """Purge report forms' pending photos older than a day, then delete files no row points
    at and older than the grace period (unfinished temporary files included); list rows
    whose file is missing. The purge is committed before the files are judged."""
    purged = 0
    if not dry_run:
        purged = pending_photos.purge(session, now or utcnow())
        session.commit()
    hashes = referenced(session)
    result = Sweep(referenced=len(hashes), purged=purged)
    result.missing = sorted(h for h in hashes if not store.exists(h))
    if not store.root.is_dir():
        return result
    cutoff_ns = time.time_ns() - int(grace * 1e9)
    candidates = []
    for path in sorted(store.root.glob("??/*")):
        sha = _sha(path)
        if sha is None or sha in hashes:
            continue
        candidates.append(path)
    with store.locked():
        for path in candidates:
            try:
                # Checked again under the lock: a writer may just have claimed the file.
                if path.stat().st_mtime_ns > cutoff_ns:
                    result.recent += 1
                    continue
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:
                continue
            result.orphans.append(path)
    return result
