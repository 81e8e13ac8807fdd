"""Moderation (PIPL): staff hide what should not be public in a case (a neighbour's phone
number in the description, a face or a number plate in a photo, the whole case) while the
original is kept for the roles that need it, every change in the audit log, undone by an
admin.

Each change is a Moderation row holding the original. The public fields of the case (its
description, the reply's body, the photo's file) hold what the public may see, so that every
public page, Open311, the exports and the feeds show the moderated version without knowing
about moderation; `Case.moderated` makes them add the note "部分内容已隐去"."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, CaseEvent, Moderation, Photo, User
from portal.services import audit, photos
from portal.services.photos import PhotoStore

# What stands in the public text for each redacted piece.
REDACTED = "■■■"
# What a public page, Open311, an export or a feed adds to a moderated case.
NOTE = _l("Part of the content has been hidden.")
NOTE_AFTER_TEXT = _l("(Part of the content has been hidden.)")
# Who moderates, and who sees what was hidden; only admins undo.
MODERATORS = ("dispatcher", "admin")
# Events whose body the public sees and a moderator may redact.
REDACTABLE_EVENTS = ("public_reply", "comment", "info_provided", "resolved", "rejected", "rework")
REASON_MAX = 500


class ModerationError(ValueError):
    """Raised when a moderation is refused; `code` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def may_moderate(user: User) -> bool:
    """Tell whether a staff member may hide content of a case."""
    return user.role in MODERATORS


def may_see_originals(user: User) -> bool:
    """Tell whether a staff member may read what a moderator hid."""
    return user.role in MODERATORS


def may_undo(user: User) -> bool:
    """Tell whether a staff member may undo a moderation."""
    return user.role == "admin"


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text or len(text) > REASON_MAX:
        raise ModerationError("reason")
    return text


def _require(user: User) -> None:
    if not may_moderate(user):
        raise ModerationError("forbidden")


def redacted(text: str, pieces: list[str]) -> str:
    """Return a text with every occurrence of each piece replaced by the redaction mark."""
    for piece in sorted({p for p in pieces if p.strip()}, key=len, reverse=True):
        text = text.replace(piece, REDACTED)
    return text


def _touch(case: Case, now: datetime) -> None:
    """Mark the case changed, so that cached public pages and ETags follow at once."""
    case.updated_at = now


def _refresh_flags(session: Session, case: Case) -> None:
    """Set the case's and its events' "moderated" marks from the moderations still in force."""
    session.flush()
    active = session.scalars(
        select(Moderation).where(Moderation.case_id == case.id, Moderation.undone_at.is_(None))
    ).all()
    events = {m.event_id for m in active if m.kind == "redact" and m.event_id is not None}
    for event in case.events:
        event.moderated = event.id in events
    case.moderated = any(m.kind != "hide_case" for m in active)


def _log(
    session: Session, case: Case, user: User, moderation: Moderation, now: datetime
) -> Moderation:
    """Store the moderation, note it on the staff timeline and in the audit log."""
    session.add(moderation)
    session.add(
        CaseEvent(
            case=case,
            kind="moderated",
            public=False,
            body=moderation.reason,
            actor=user,
            data={"moderation": moderation.kind},
            created_at=now,
        )
    )
    session.flush()
    audit.record(
        session,
        user,
        f"moderation.{moderation.kind}",
        "case",
        case.number,
        after={
            "moderation": moderation.id,
            "event": moderation.event_id,
            "photo": moderation.photo_id,
            "reason": moderation.reason,
        },
        now=now,
    )
    _refresh_flags(session, case)
    return moderation


def redact(
    session: Session,
    case: Case,
    user: User,
    pieces: list[str],
    reason: str,
    now: datetime,
    event: CaseEvent | None = None,
) -> Moderation:
    """Replace pieces of the description (or of a public timeline entry) with the redaction
    mark; each piece must occur in the text as it stands."""
    _require(user)
    reason = _reason(reason)
    if event is not None and (
        event.case_id != case.id or not event.public or event.kind not in REDACTABLE_EVENTS
    ):
        raise ModerationError("target")
    before = event.body if event is not None else case.description
    pieces = [p.strip() for p in pieces if p.strip()]
    if not pieces or any(p not in before for p in pieces):
        raise ModerationError("pieces")
    after = redacted(before, pieces)
    if event is not None:
        event.body = after
    else:
        case.description = after
    _touch(case, now)
    moderation = Moderation(
        case=case,
        kind="redact",
        event=event,
        original_text=before,
        redacted_text=after,
        reason=reason,
        actor=user,
        created_at=now,
    )
    return _log(session, case, user, moderation, now)


def _own_photo(case: Case, photo: Photo) -> None:
    if photo.case_id != case.id:
        raise ModerationError("target")


def hide_photo(
    session: Session, case: Case, user: User, photo: Photo, reason: str, now: datetime
) -> Moderation:
    """Hide one photo of a case from the public; staff still see it."""
    _require(user)
    reason = _reason(reason)
    _own_photo(case, photo)
    if photo.hidden:
        raise ModerationError("done")
    photo.hidden = True
    _touch(case, now)
    moderation = Moderation(
        case=case, kind="hide_photo", photo=photo, reason=reason, actor=user, created_at=now
    )
    return _log(session, case, user, moderation, now)


def blur_photo(
    session: Session,
    case: Case,
    user: User,
    photo: Photo,
    box: tuple[float, float, float, float],
    reason: str,
    store: PhotoStore,
    now: datetime,
) -> Moderation:
    """Blur a region of a photo (left, top, width, height as fractions): the public gets a
    re-encoded copy, the original file is kept for the staff who may see it."""
    _require(user)
    reason = _reason(reason)
    _own_photo(case, photo)
    left, top, width, height = box
    if not (0 <= left < 1 and 0 <= top < 1 and 0 < width <= 1 - left and 0 < height <= 1 - top):
        raise ModerationError("box")
    if not store.exists(photo.sha256):
        raise ModerationError("file")
    blurred = photos.blur_region(store, photo.sha256, box)
    photos.save_for_session(session, store, blurred)
    original = photo.sha256
    photo.sha256 = blurred.sha256
    _touch(case, now)
    moderation = Moderation(
        case=case,
        kind="blur_photo",
        photo=photo,
        original_sha256=original,
        blurred_sha256=blurred.sha256,
        reason=reason,
        actor=user,
        created_at=now,
    )
    return _log(session, case, user, moderation, now)


def hide_case(session: Session, case: Case, user: User, reason: str, now: datetime) -> Moderation:
    """Hide a whole case from the public, with a reason; staff work it as before."""
    _require(user)
    reason = _reason(reason)
    if case.hidden:
        raise ModerationError("done")
    case.hidden = True
    _touch(case, now)
    moderation = Moderation(case=case, kind="hide_case", reason=reason, actor=user, created_at=now)
    return _log(session, case, user, moderation, now)


def undo(session: Session, moderation: Moderation, user: User, now: datetime) -> None:
    """Put back what a moderation hid (admins only). A redaction is undone only while its text
    is as it left it: a later redaction of the same text is undone first."""
    if not may_undo(user):
        raise ModerationError("forbidden")
    if moderation.undone_at is not None:
        raise ModerationError("done")
    case = moderation.case
    if moderation.kind == "redact":
        target = moderation.event
        current = target.body if target is not None else case.description
        if current != moderation.redacted_text:
            raise ModerationError("later")
        if target is not None:
            target.body = moderation.original_text
        else:
            case.description = moderation.original_text
    elif moderation.kind == "hide_photo":
        moderation.photo.hidden = False
    elif moderation.kind == "blur_photo":
        if moderation.photo.sha256 != moderation.blurred_sha256:
            raise ModerationError("later")
        moderation.photo.sha256 = moderation.original_sha256
    else:
        case.hidden = False
    moderation.undone_at, moderation.undone_by = now, user
    _touch(case, now)
    session.add(
        CaseEvent(
            case=case,
            kind="moderation_undone",
            public=False,
            actor=user,
            data={"moderation": moderation.kind},
            created_at=now,
        )
    )
    session.flush()
    audit.record(
        session,
        user,
        "moderation.undo",
        "case",
        case.number,
        before={"moderation": moderation.id, "kind": moderation.kind},
        now=now,
    )
    _refresh_flags(session, case)


def history(session: Session, case: Case) -> list[Moderation]:
    """Return a case's moderations, newest first."""
    return list(
        session.scalars(
            select(Moderation)
            .where(Moderation.case_id == case.id)
            .order_by(Moderation.created_at.desc(), Moderation.id.desc())
        )
    )


def with_note(text: str, moderated: bool) -> str:
    """Return a public text with the moderation note after it when part of it was hidden."""
    return f"{text} {NOTE_AFTER_TEXT}" if moderated else text
