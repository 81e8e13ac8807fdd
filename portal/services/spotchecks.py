"""Monthly random spot checks (随机抽查): which supervisor checks which construction site."""

from __future__ import annotations

import calendar
import random
from collections import Counter
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Assignment, Inspection, Project, SpotCheckRound, User
from portal.services import audit, geo


class SpotCheckError(ValueError):
    """Raised when a month cannot be assigned as asked."""


def parse_month(month: str) -> tuple[int, int]:
    """Read 'YYYY-MM' into (year, month); raise SpotCheckError('month') if it is not one."""
    try:
        year, number = (int(part) for part in month.split("-"))
        date(year, number, 1)
    except ValueError as error:
        raise SpotCheckError("month") from error
    return year, number


def _previous(year: int, number: int) -> str:
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def _home(supervisor: User) -> tuple[float, float] | None:
    zone = supervisor.zone
    if zone is None:
        return None
    return (zone.min_lat + zone.max_lat) / 2, (zone.min_lng + zone.max_lng) / 2


def assign(
    session: Session,
    month: str,
    per_supervisor: int,
    seed: int,
    actor: User | None,
    now: datetime,
    force: bool = False,
    actor_label: str = "",
) -> SpotCheckRound:
    """Give each active supervisor sites to check this month, at random but spread.

    Every active site is covered when the supervisors can cover them all; nobody gets the
    site they had last month when another one is free; sites near a supervisor's zone come
    first. The same seed gives the same assignment. Without an account, `actor_label` says
    who ran it (the operator's login on the server).
    """
    year, number = parse_month(month)
    if per_supervisor < 1:
        raise SpotCheckError("per_supervisor")
    existing = session.scalar(select(SpotCheckRound).where(SpotCheckRound.month == month))
    if existing is not None:
        if not force:
            raise SpotCheckError("exists")
        ids = [a.id for a in existing.assignments]
        if ids and session.scalar(select(Inspection.id).where(Inspection.assignment_id.in_(ids))):
            raise SpotCheckError("started")
        session.delete(existing)
        session.flush()
    supervisors = session.scalars(
        select(User)
        .where(User.role == "supervisor", User.active, User.suspended_at.is_(None))
        .order_by(User.id)
    ).all()
    sites = session.scalars(select(Project).where(Project.active_site).order_by(Project.id)).all()
    if not supervisors or not sites:
        raise SpotCheckError("nobody")
    last = _previous(year, number)
    before = {
        (a.supervisor_id, a.project_id)
        for a in session.scalars(
            select(Assignment).join(Assignment.round).where(SpotCheckRound.month == last)
        )
    }
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw, not a secret
    quota = min(per_supervisor, len(sites))
    homes = {s.id: _home(s) for s in supervisors}
    noise = {(s.id, p.id): rng.random() for s in supervisors for p in sites}
    chosen: dict[int, list[Project]] = {s.id: [] for s in supervisors}
    load: Counter[int] = Counter()

    def cost(supervisor: User, site: Project) -> tuple:
        home = homes[supervisor.id]
        km = geo.distance_m(home, (site.lat, site.lng)) / 1000 if home else 0.0
        # Last month's site only when nothing else is left; then near sites, with some chance.
        return (
            (supervisor.id, site.id) in before,
            load[site.id],
            km + 2 * noise[(supervisor.id, site.id)],
        )

    uncovered = list(sites)
    rng.shuffle(uncovered)
    while uncovered:  # first, every site once while someone has room, cheapest pair first
        free = [s for s in supervisors if len(chosen[s.id]) < quota]
        if not free:
            break
        supervisor, site = min(
            ((s, p) for p in uncovered for s in free), key=lambda pair: cost(*pair)
        )
        chosen[supervisor.id].append(site)
        load[site.id] += 1
        uncovered.remove(site)
    for supervisor in rng.sample(list(supervisors), len(supervisors)):  # then fill up
        while len(chosen[supervisor.id]) < quota:
            options = [p for p in sites if p not in chosen[supervisor.id]]
            site = min(options, key=lambda p: cost(supervisor, p))
            chosen[supervisor.id].append(site)
            load[site.id] += 1
    due = date(year, number, calendar.monthrange(year, number)[1])
    round_ = SpotCheckRound(
        month=month,
        seed=seed,
        per_supervisor=quota,
        run_by_id=actor.id if actor else None,
        run_by_label=actor.name if actor else actor_label,
        run_at=now,
    )
    round_.assignments = [
        Assignment(supervisor_id=s_id, project_id=p.id, due_on=due)
        for s_id, projects in chosen.items()
        for p in projects
    ]
    session.add(round_)
    session.flush()
    audit.record(
        session,
        actor,
        "spotchecks.assign",
        "spot_check_round",
        month,
        after={
            "seed": seed,
            "per_supervisor": quota,
            "assignments": len(round_.assignments),
            "forced": force,
        },
        now=now,
        actor_label=actor_label,
    )
    return round_
