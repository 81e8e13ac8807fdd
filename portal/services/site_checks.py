"""A supervisor's check on site of the fix of their finding (核查), with the same evidence as a
report: the device's position, photos whose EXIF agrees with the site and the visit. When
the evidence holds, the check closes the case or sends it back at once; otherwise it waits
for staff, who apply it (the supervisor then earns the check's points) or reject it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, SiteCheck, SiteCheckPhoto, User
from portal.services import audit, evidence, workflow
from portal.services.photos import PhotoStore, ProcessedPhoto

ACTIONS = {"close": workflow.close, "rework": workflow.rework}


class SiteCheckError(ValueError):
    """Raised with a code when a check cannot be recorded or reviewed."""


def pending(session: Session, case: Case) -> SiteCheck | None:
    """Return the check of a case that waits for staff review, if any."""
    return session.scalar(
        select(SiteCheck).where(SiteCheck.case_id == case.id, evidence.awaiting_review(SiteCheck))
    )


def record(
    session: Session,
    case: Case,
    supervisor: User,
    action: str,
    body: str,
    position: evidence.Position | None,
    photos: list[ProcessedPhoto],
    store: PhotoStore,
    now: datetime,
    version: int | None = None,
) -> SiteCheck:
    """Record a check on site; apply it to the case now if its evidence holds."""
    if action not in ACTIONS:
        raise SiteCheckError("action")
    if version is not None and version != case.version_id:
        raise workflow.StaleCase()
    if action not in workflow.allowed(case, supervisor):
        raise workflow.WorkflowError("state")
    if pending(session, case) is not None:
        raise SiteCheckError("pending")
    if not body.strip():
        raise SiteCheckError("body")
    if position is None:
        raise SiteCheckError("position")
    if not photos:
        raise SiteCheckError("photo")
    check = SiteCheck(
        case=case,
        supervisor=supervisor,
        action=action,
        body=body.strip(),
        review_reasons=[],
        created_at=now,
    )
    project = case.inspection.project if case.inspection else None
    evidence.record_visit(
        session, check, position, photos, store, now, SiteCheckPhoto, project or case
    )
    session.add(check)
    session.flush()
    audit.record(
        session,
        supervisor,
        "case.site_check",
        "case",
        case.number,
        after={
            "action": action,
            "distance_m": round(check.distance_m),
            "review_reasons": check.review_reasons,
        },
        now=now,
    )
    if not check.flagged:
        ACTIONS[action](session, case, supervisor, check.body, now)
        check.applied_at = now
    return check


def confirm(session: Session, check: SiteCheck, staff: User, reason: str, now: datetime) -> None:
    """Confirm a flagged check with the reason: it is applied to the case as the supervisor's."""
    evidence.ensure_decidable(check, reason, SiteCheckError)
    try:
        ACTIONS[check.action](session, check.case, check.supervisor, check.body, now)
    except workflow.WorkflowError as error:
        raise SiteCheckError("case_state") from error
    evidence.settle(check, staff, "confirm", reason, now)
    check.applied_at = now
    evidence.record_decision(
        session,
        staff,
        "site_check.confirm",
        check,
        ("case", check.case.number),
        now,
        check=check.id,
    )


def reject(session: Session, check: SiteCheck, staff: User, reason: str, now: datetime) -> None:
    """Reject a flagged check with the reason: the case stays as it was, no points."""
    evidence.ensure_decidable(check, reason, SiteCheckError)
    evidence.settle(check, staff, "reject", reason, now)
    evidence.record_decision(
        session, staff, "site_check.reject", check, ("case", check.case.number), now, check=check.id
    )
