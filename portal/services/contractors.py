"""Each contractor's public record, and the red and black list (红黑榜)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case, Contractor, Inspection, ListEntry, Project, User
from portal.services import alarms, audit, inspections

REPEAT_WINDOW = timedelta(days=90)


def _late(case: Case, now: datetime) -> bool:
    """Tell whether a finding was answered after its deadline, or is unanswered past it."""
    due = case.respond_due_at
    return due is not None and (case.responded_at or now) > due


@dataclass
class Record:
    """What a contractor's sites showed over the period."""

    inspections: int = 0
    passed: int = 0
    findings: int = 0
    answered_late: int = 0
    repeated: int = 0
    acceptances: int = 0
    acceptances_passed: int = 0
    # Alarms raised by the sensors of its sites (noise, dust ...), false alarms excepted.
    exceedances: int = 0

    @property
    def pass_rate(self) -> float | None:
        """Return the share of inspections passed, or None without inspections."""
        return self.passed / self.inspections if self.inspections else None


def record(session: Session, contractor: Contractor, since: datetime, now: datetime) -> Record:
    """Count the contractor's inspections, findings, late answers and repeated findings."""
    result = Record()
    reports = session.scalars(
        select(Inspection)
        .join(Inspection.project)
        .where(
            Project.contractor_id == contractor.id,
            Inspection.status == "submitted",
            Inspection.submitted_at >= since,
            # A report waiting for staff review, or rejected, is no evidence about anyone.
            inspections.counted(),
        )
    ).all()
    result.inspections = len(reports)
    result.passed = sum(1 for r in reports if r.verdict == "pass")
    findings = session.scalars(
        select(Case)
        .join(Project, Case.project_id == Project.id)
        .where(
            Project.contractor_id == contractor.id,
            Case.source == "inspection",
            Case.created_at >= since,
        )
        .order_by(Case.created_at)
    ).all()
    result.findings = len(findings)
    result.answered_late = sum(1 for c in findings if _late(c, now))
    accepted = session.scalars(
        select(Project.acceptance_result).where(
            Project.contractor_id == contractor.id,
            Project.acceptance_result != "",
            Project.acceptance_date >= since.date(),
        )
    ).all()
    result.acceptances = len(accepted)
    result.acceptances_passed = sum(1 for r in accepted if r == "passed")
    seen: dict[tuple[int, str], datetime] = {}
    for case in findings:
        key = (case.project_id, case.inspection_item)
        if key in seen and case.created_at - seen[key] <= REPEAT_WINDOW:
            result.repeated += 1
        seen[key] = case.created_at
    sites = session.scalars(select(Project.id).where(Project.contractor_id == contractor.id))
    result.exceedances = alarms.exceedances(session, sites.all(), since)
    return result


@dataclass(frozen=True)
class Rules:
    """When to propose an entry; the office sets these (LIST_* settings)."""

    black_repeated: int = 2  # the same problem found again within 90 days, this many times
    black_late: int = 3  # findings answered after 48 h
    black_failed_acceptances: int = 1
    black_exceedances: int = 10  # sensor alarms of its sites (site noise, dust) in a year
    red_min_inspections: int = 3
    red_pass_rate: float = 1.0
    valid_days: int = 365

    @classmethod
    def from_config(cls, config: dict) -> Rules:
        """Read the rules from the app's settings."""
        return cls(
            **{
                k: type(getattr(cls, k))(config[f"LIST_{k.upper()}"])
                for k in cls.__dataclass_fields__
                if f"LIST_{k.upper()}" in config
            }
        )


def propose(session: Session, now: datetime, rules: Rules | None = None) -> list[ListEntry]:
    """Propose red and black list entries from the last year's records; an admin decides."""
    rules = rules or Rules.from_config(current_app.config)
    since = now - timedelta(days=365)
    made = []
    for contractor in session.scalars(select(Contractor)):
        pending = {
            e.kind
            for e in session.scalars(
                select(ListEntry).where(
                    ListEntry.contractor_id == contractor.id,
                    ListEntry.dismissed_at.is_(None),
                    (ListEntry.expires_on.is_(None)) | (ListEntry.expires_on >= now.date()),
                )
            )
        }
        rec = record(session, contractor, since, now)
        reason = None
        failed_acceptances = rec.acceptances - rec.acceptances_passed
        if (
            rec.repeated >= rules.black_repeated
            or rec.answered_late >= rules.black_late
            or failed_acceptances >= rules.black_failed_acceptances
            or rec.exceedances >= rules.black_exceedances
        ):
            kind = "black"
            reason = (
                f"90天内重复发现问题 {rec.repeated} 次，超时答复 {rec.answered_late} 件"
                f"（共 {rec.findings} 件问题），验收未通过 {failed_acceptances} 项，"
                f"在线监测超标告警 {rec.exceedances} 次"
            )
        elif (
            rec.inspections >= rules.red_min_inspections
            and rec.pass_rate is not None
            and rec.pass_rate >= rules.red_pass_rate
            and rec.exceedances == 0
        ):
            kind = "red"
            reason = f"近一年 {rec.inspections} 次抽查全部合格"
        if reason is None or kind in pending:
            continue
        entry = ListEntry(
            contractor=contractor, kind=kind, reason=reason, rule=kind, proposed_at=now
        )
        session.add(entry)
        made.append(entry)
    session.flush()
    return made


class ListError(ValueError):
    """Raised with a code when a list entry cannot be decided or renewed."""


def _expiry(now: datetime, valid_days: int | None) -> date:
    days = valid_days or Rules.from_config(current_app.config).valid_days
    return now.date() + timedelta(days=days)


def confirm(
    session: Session,
    admin: User,
    entry: ListEntry,
    reason: str,
    now: datetime,
    valid_days: int | None = None,
) -> None:
    """Publish an entry with the admin's reason; it expires after LIST_VALID_DAYS unless renewed."""
    if entry.confirmed_at is not None or entry.dismissed_at is not None:
        raise ListError("decided")
    if not reason.strip():
        raise ListError("reason")
    entry.reason = reason.strip()
    entry.confirmed_by, entry.confirmed_at = admin, now
    entry.expires_on = _expiry(now, valid_days)
    audit.record(
        session,
        admin,
        f"list.{entry.kind}.confirm",
        "contractor",
        entry.contractor_id,
        after={"reason": entry.reason, "expires_on": entry.expires_on.isoformat()},
        now=now,
    )


def renew(
    session: Session,
    admin: User,
    entry: ListEntry,
    reason: str,
    now: datetime,
    valid_days: int | None = None,
) -> None:
    """Keep a published entry for another period, with the admin's reason for renewing."""
    if entry.confirmed_at is None or entry.dismissed_at is not None:
        raise ListError("state")
    if not reason.strip():
        raise ListError("reason")
    before = {"expires_on": entry.expires_on.isoformat(), "renewal_reason": entry.renewal_reason}
    entry.renewal_reason = reason.strip()
    entry.renewed_by, entry.renewed_at = admin, now
    entry.expires_on = _expiry(now, valid_days)
    audit.record(
        session,
        admin,
        f"list.{entry.kind}.renew",
        "contractor",
        entry.contractor_id,
        before=before,
        after={"expires_on": entry.expires_on.isoformat(), "renewal_reason": reason.strip()},
        now=now,
    )


def dismiss(session: Session, admin: User, entry: ListEntry, now: datetime) -> None:
    """Refuse a proposed entry."""
    if entry.confirmed_at is not None or entry.dismissed_at is not None:
        raise ListError("decided")
    entry.dismissed_at = now
    audit.record(
        session, admin, f"list.{entry.kind}.dismiss", "contractor", entry.contractor_id, now=now
    )


def published(session: Session, kind: str, today: date) -> list[ListEntry]:
    """Return the confirmed, unexpired entries of one list."""
    return list(
        session.scalars(
            select(ListEntry)
            .where(
                ListEntry.kind == kind,
                ListEntry.confirmed_at.is_not(None),
                ListEntry.expires_on >= today,
            )
            .order_by(ListEntry.confirmed_at.desc())
        )
    )
