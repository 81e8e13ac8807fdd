"""Follow-up checks (回头看): months after a fix, is it still fixed?

Each month a random sample is drawn of the cases closed 30 to 90 days before and of the
accepted works not checked again yet, stratified by department: from each department's
candidates the same share (FOLLOWUP_SHARE, rounded up, so a department with any candidate
gets at least one) is drawn with a seeded generator, so the same seed draws the same
sample. The sample is shared among the active supervisors, those with the fewest spot
checks and follow-ups this month first, then the nearest to their home street.

On site the supervisor answers "still fixed" or "rebounded" (反弹), with a photo and the
phone's position, the evidence of the inspections. A rebound reopens the case as rework
(counted against the department) or opens a finding on the work with the 48-hour clock.
When the evidence does not hold (a typed position, far from the place), the answer waits
for staff, who confirm it (then it is applied) or reject it.
"""

from __future__ import annotations

import calendar
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from portal.models import (
    Assignment,
    Case,
    Category,
    Department,
    FollowUp,
    FollowUpPhoto,
    FollowUpRound,
    Project,
    SpotCheckRound,
    User,
)
from portal.services import (
    audit,
    cases,
    evidence,
    geo,
    inspections,
    notify,
    spotchecks,
    workflow,
)
from portal.services.photos import PhotoStore, ProcessedPhoto

VERDICTS = ("still_fixed", "rebounded")
CLOSED_FROM_DAYS, CLOSED_TO_DAYS = 30, 90


class FollowUpError(ValueError):
    """Raised with a code when a draw or an answer cannot be made."""


def _month(month: str) -> tuple[int, int]:
    try:
        year, number = spotchecks.parse_month(month)
    except spotchecks.SpotCheckError as error:
        raise FollowUpError("month") from error
    if not 2000 <= year <= 2999:
        raise FollowUpError("month")
    return year, number


def _candidates(session: Session, now: datetime) -> list[tuple[int | None, Case | Project]]:
    """Return (department id, case or work) of everything that may be drawn now."""
    checked_cases = select(FollowUp.case_id).where(FollowUp.case_id.is_not(None))
    closed = session.scalars(
        select(Case)
        .where(
            Case.state == "closed",
            Case.held.is_(False),
            Case.closed_at >= now - timedelta(days=CLOSED_TO_DAYS),
            Case.closed_at <= now - timedelta(days=CLOSED_FROM_DAYS),
            Case.id.not_in(checked_cases),
        )
        .order_by(Case.id)
    ).all()
    checked_works = select(FollowUp.project_id).where(FollowUp.project_id.is_not(None))
    accepted = session.scalars(
        select(Project)
        .where(Project.acceptance_result == "passed", Project.id.not_in(checked_works))
        .order_by(Project.id)
    ).all()
    return [(c.department_id, c) for c in closed] + [(p.department_id, p) for p in accepted]


def _place(item: Case | Project) -> tuple[float, float]:
    return item.lat, item.lng


def draw(
    session: Session,
    month: str,
    share: float,
    seed: int,
    actor: User | None,
    now: datetime,
    force: bool = False,
    actor_label: str = "",
) -> FollowUpRound:
    """Draw this month's sample, stratified by department, and share it among supervisors."""
    year, number = _month(month)
    if not 0 < share <= 1:
        raise FollowUpError("share")
    existing = session.scalar(select(FollowUpRound).where(FollowUpRound.month == month))
    if existing is not None:
        if not force:
            raise FollowUpError("exists")
        if any(f.answered_at for f in existing.follow_ups):
            raise FollowUpError("started")
        session.delete(existing)
        session.flush()
    supervisors = session.scalars(
        select(User)
        .where(User.role == "supervisor", User.active, User.suspended_at.is_(None))
        .order_by(User.id)
    ).all()
    if not supervisors:
        raise FollowUpError("nobody")
    strata: dict[int | None, list[Case | Project]] = defaultdict(list)
    for department_id, item in _candidates(session, now):
        strata[department_id].append(item)
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw, not a secret
    drawn: list[tuple[int | None, Case | Project]] = []
    for department_id in sorted(strata, key=lambda d: (d is None, d or 0)):
        items = strata[department_id]
        drawn += [(department_id, i) for i in rng.sample(items, math.ceil(share * len(items)))]
    load = Counter(
        session.scalars(
            select(Assignment.supervisor_id)
            .join(Assignment.round)
            .where(SpotCheckRound.month == month)
        )
    )
    homes = {s.id: _home(s) for s in supervisors}
    due = date(year, number, calendar.monthrange(year, number)[1])
    round_ = FollowUpRound(
        month=month,
        seed=seed,
        share=share,
        run_by_id=actor.id if actor else None,
        run_by_label=actor.name if actor else actor_label,
        run_at=now,
    )
    noise = {s.id: rng.random() for s in supervisors}
    for department_id, item in drawn:

        def cost(supervisor: User, item=item) -> tuple:
            home = homes[supervisor.id]
            km = geo.distance_m(home, _place(item)) / 1000 if home else 0.0
            return (load[supervisor.id], km, noise[supervisor.id])

        chosen = min(supervisors, key=cost)
        load[chosen.id] += 1
        round_.follow_ups.append(
            FollowUp(
                supervisor_id=chosen.id,
                case_id=item.id if isinstance(item, Case) else None,
                project_id=item.id if isinstance(item, Project) else None,
                department_id=department_id,
                due_on=due,
                review_reasons=[],
            )
        )
    session.add(round_)
    session.flush()
    audit.record(
        session,
        actor,
        "followups.draw",
        "follow_up_round",
        month,
        after={"seed": seed, "share": share, "drawn": len(drawn), "forced": force},
        now=now,
        actor_label=actor_label,
    )
    return round_


def _home(supervisor: User) -> tuple[float, float] | None:
    zone = supervisor.zone
    if zone is None:
        return None
    return (zone.min_lat + zone.max_lat) / 2, (zone.min_lng + zone.max_lng) / 2


def of_supervisor(session: Session, supervisor: User, month: str) -> list[FollowUp]:
    """Return a supervisor's follow-ups of a month."""
    return list(
        session.scalars(
            select(FollowUp)
            .join(FollowUp.round)
            .where(FollowUp.supervisor_id == supervisor.id, FollowUpRound.month == month)
            .order_by(FollowUp.id)
        )
    )


def answer(
    session: Session,
    follow_up: FollowUp,
    supervisor: User,
    verdict: str,
    body: str,
    position: evidence.Position | None,
    photos: list[ProcessedPhoto],
    store: PhotoStore,
    now: datetime,
    category: Category | None = None,
) -> FollowUp:
    """Record the supervisor's answer on site; apply a rebound now if the evidence holds.

    A rebound of a work needs the category of the problem found (the finding's category)."""
    if follow_up.supervisor_id != supervisor.id:
        raise FollowUpError("owner")
    if follow_up.answered_at is not None:
        raise FollowUpError("answered")
    if verdict not in VERDICTS:
        raise FollowUpError("verdict")
    if verdict == "rebounded" and not body.strip():
        raise FollowUpError("body")
    if verdict == "rebounded" and follow_up.project_id and category is None:
        raise FollowUpError("category")
    if position is None:
        raise FollowUpError("position")
    if not photos:
        raise FollowUpError("photo")
    follow_up.verdict, follow_up.body, follow_up.answered_at = verdict, body.strip(), now
    site = follow_up.project or follow_up.case
    evidence.record_visit(session, follow_up, position, photos, store, now, FollowUpPhoto, site)
    session.flush()
    audit.record(
        session,
        supervisor,
        "follow_up.answer",
        "follow_up",
        follow_up.id,
        after={
            "verdict": verdict,
            "distance_m": round(follow_up.distance_m),
            "review_reasons": follow_up.review_reasons,
        },
        now=now,
    )
    if verdict == "rebounded":
        follow_up.finding_category_id = category.id if category else None
        if not follow_up.flagged:
            _apply(session, follow_up, now)
    return follow_up


def _apply(session: Session, follow_up: FollowUp, now: datetime) -> None:
    """Reopen the case as rework, or open a finding on the work (48-hour clock)."""
    if follow_up.case is not None:
        if follow_up.case.state == "closed":
            workflow.reopen_rebound(
                session,
                follow_up.case,
                follow_up.supervisor,
                follow_up.body,
                now,
                follow_up=follow_up.id,
            )
        follow_up.applied_at = now
        return
    follow_up.finding = _finding(session, follow_up, now)
    follow_up.applied_at = now


def _finding(session: Session, follow_up: FollowUp, now: datetime) -> Case:
    project, supervisor = follow_up.project, follow_up.supervisor
    category = session.get(Category, follow_up.finding_category_id) or session.scalar(
        select(Category).order_by(Category.sort_order, Category.id)
    )
    case = inspections.open_finding(
        session,
        supervisor,
        project,
        category,
        (follow_up.lat, follow_up.lng),
        f"回头看发现反弹：{follow_up.body}（{project.name}）",
        {"follow_up": follow_up.id},
        now,
        cases.case_year(now),
    )
    session.flush()
    notify.case_changed(session, case, case.events[-1])
    return case


def confirm(session: Session, follow_up: FollowUp, staff: User, reason: str, now: datetime) -> None:
    """Confirm a flagged answer with the reason: a rebound is applied then."""
    evidence.ensure_decidable(follow_up, reason, FollowUpError)
    evidence.settle(follow_up, staff, "confirm", reason, now)
    if follow_up.verdict == "rebounded":
        _apply(session, follow_up, now)
    evidence.record_decision(
        session, staff, "follow_up.confirm", follow_up, ("follow_up", follow_up.id), now
    )


def reject(session: Session, follow_up: FollowUp, staff: User, reason: str, now: datetime) -> None:
    """Reject a flagged answer with the reason: nothing changes and it counts nowhere."""
    evidence.ensure_decidable(follow_up, reason, FollowUpError)
    evidence.settle(follow_up, staff, "reject", reason, now)
    evidence.record_decision(
        session, staff, "follow_up.reject", follow_up, ("follow_up", follow_up.id), now
    )


def pending(session: Session) -> list[FollowUp]:
    """Return the answers waiting for staff review, oldest first."""
    return list(
        session.scalars(
            select(FollowUp)
            .where(evidence.awaiting_review(FollowUp))
            .order_by(FollowUp.answered_at)
        )
    )


@dataclass
class ReboundRate:
    """A department's follow-ups answered in a period, and how many had rebounded."""

    department: Department | None
    answered: int
    rebounded: int

    @property
    def rate(self) -> float | None:
        """Return the share of answered follow-ups that found a rebound, None with none."""
        return self.rebounded / self.answered if self.answered else None


def rebound_rates(session: Session, start: datetime, end: datetime) -> list[ReboundRate]:
    """Return each department's rebound rate over the answers given between two moments.

    Only answers that count: their evidence held, or staff confirmed them."""
    counts = and_(
        FollowUp.answered_at >= start,
        FollowUp.answered_at < end,
        FollowUp.rejected_at.is_(None),
        or_(FollowUp.flagged.is_(False), FollowUp.confirmed_at.is_not(None)),
    )
    rows = session.execute(
        select(
            FollowUp.department_id,
            func.count(),
            func.count().filter(FollowUp.verdict == "rebounded"),
        )
        .where(counts)
        .group_by(FollowUp.department_id)
    ).all()
    departments = {d.id: d for d in session.scalars(select(Department))}
    found = [ReboundRate(departments.get(d), n, r) for d, n, r in rows]
    return sorted(
        found, key=lambda r: (r.department is None, r.department.code if r.department else "")
    )
