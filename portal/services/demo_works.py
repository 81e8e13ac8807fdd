"""Demo works: contractors, projects, supervisors with three months of spot checks, and
the red and black list."""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import CHECKLIST, Department, Project, User, Zone
from portal.services import (
    accounts,
    contractors,
    evidence,
    inspections,
    spotchecks,
    workflow,
    works,
)
from portal.services import demo_data as data
from portal.services.photos import PhotoStore, process


def _site_photo(rng: random.Random) -> bytes:
    image = Image.new("RGB", (800, 600), (200, 190, 170))
    image.paste((150, 120, 90), (rng.randint(50, 300), 300, rng.randint(400, 750), 560))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _month(now: datetime, back: int) -> tuple[str, datetime]:
    year, month = now.year, now.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year}-{month:02d}", datetime(year, month, 12, 2, 0, tzinfo=now.tzinfo)


def load_works(session: Session, store: PhotoStore, now: datetime, seed: int) -> dict[str, int]:
    """Create contractors, projects, supervisors and three months of inspections."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    firms = [works.save_contractor(session, None, n, c, p, t) for n, c, p, t in data.CONTRACTORS]
    departments = {d.code: d for d in session.scalars(select(Department))}
    for code, name, firm, dept, phase, active, points in data.PROJECTS:
        geometry = (
            {"type": "Point", "coordinates": list(points[0])}
            if len(points) == 1
            else {"type": "LineString", "coordinates": [list(p) for p in points]}
        )
        works.save_project(
            session,
            None,
            Project(),
            {
                "code": code,
                "name": name,
                "geometry": geometry,
                "contractor_id": firms[firm].id,
                "department": departments[dept],
                "phase": phase,
                "active_site": active,
                "supervising_firm": "浙江正元工程监理有限公司",
                "description": f"{name}，由{firms[firm].name}施工。",
                "planned_start": (now - timedelta(days=200)).date(),
                "planned_end": (now + timedelta(days=160)).date(),
            },
            now,
        )
    accepted = _completed_works(session, firms, departments, now)
    zones = {z.code: z for z in session.scalars(select(Zone).where(Zone.level == "street"))}
    people = [u for u in session.scalars(select(User).where(User.role == "supervisor"))]
    for n, (name, zone) in enumerate(data.SUPERVISORS):
        user = accounts.create(
            session,
            None,
            f"supervisor{n + 2}@demo.example.cn",
            name,
            "supervisor",
            accounts.generate_password(),
        )
        user.zone = zones[zone]
        people.append(user)
    people[0].zone = people[0].zone or zones["GS-DG"]
    dispatcher = session.scalar(select(User).where(User.role == "dispatcher"))
    reports = 0
    for back in (2, 1, 0):
        month, day = _month(now, back)
        round_ = spotchecks.assign(session, month, 3, seed + back, dispatcher, day)
        if back == 0:
            continue  # this month's checks are still to do
        for k, assignment in enumerate(round_.assignments):
            reports += _inspect(
                session,
                store,
                rng,
                assignment,
                day + timedelta(days=k % 10),
                off_site=(back == 1 and k == 0),
                dispatcher=dispatcher,
                now=now,
            )
    session.flush()
    proposed = contractors.propose(session, now)
    admin = session.scalar(select(User).where(User.role == "admin"))
    for entry in proposed:
        reason = f"{entry.reason}。{data.LIST_REASONS[entry.kind]}"
        contractors.confirm(session, admin, entry, reason, now)
    return {
        "contractors": len(firms),
        "projects": len(data.PROJECTS) + len(data.COMPLETED_PROJECTS),
        "acceptance results": accepted,
        "inspection reports": reports,
        "list entries": len(proposed),
    }


def _completed_works(session: Session, firms: list, departments: dict, now: datetime) -> int:
    """Add the works finished in the last year with their acceptance results; return how many."""
    for code, name, firm, dept, months, result, point in data.COMPLETED_PROJECTS:
        finished = (now - timedelta(days=30 * months)).date()
        works.save_project(
            session,
            None,
            Project(),
            {
                "code": code,
                "name": name,
                "geometry": {"type": "Point", "coordinates": list(point)},
                "contractor_id": firms[firm].id,
                "department": departments[dept],
                "phase": "operation",
                "active_site": False,
                "supervising_firm": "浙江正元工程监理有限公司",
                "description": f"{name}，由{firms[firm].name}施工，已竣工。",
                "planned_start": finished - timedelta(days=240),
                "planned_end": finished - timedelta(days=20),
                "actual_start": finished - timedelta(days=230),
                "actual_end": finished - timedelta(days=10),
                "acceptance_result": result,
                "acceptance_date": finished,
            },
            now,
        )
    code, result = data.ACCEPTANCE_PHASE_RESULT
    project = session.scalar(select(Project).where(Project.code == code))
    project.acceptance_result = result
    project.acceptance_date = (now - timedelta(days=20)).date()
    return len(data.COMPLETED_PROJECTS) + 1


def _inspect(
    session: Session,
    store: PhotoStore,
    rng: random.Random,
    assignment,
    when,
    off_site: bool,
    dispatcher: User,
    now: datetime,
) -> int:
    """File one demo report for an assignment and take its findings through the office."""
    if rng.random() < 0.1:
        return 0  # a check that was never done
    project = assignment.project
    report = inspections.draft(
        session, assignment.supervisor, project, f"demo-{assignment.id}", when
    )
    report.assignment_id = assignment.id
    failing = [i for i in CHECKLIST if rng.random() < 0.12]
    if project.contractor.name.startswith("杭州城建"):  # the demo's repeat offender
        failing = sorted(set(failing) | {"dust"})
    elif project.contractor.name == data.CONTRACTORS[data.MODEL_CONTRACTOR][0]:
        failing = []
    answers = {
        i: {
            "result": "fail" if i in failing else ("na" if i == "night_permit" else "pass"),
            "note": data.INSPECTION_NOTES[i] if i in failing else "",
        }
        for i in CHECKLIST
    }
    shift = 0.012 if off_site else rng.uniform(-0.0004, 0.0004)
    # As the phone's Geolocation API gives it: a fix with its accuracy and time.
    fix = evidence.Position(
        project.lat + shift, project.lng, rng.uniform(5, 30), when, from_device=True
    )
    inspections.save(report, answers, fix, now=when)
    for item in failing or ["tidy"]:  # a pass needs a photo of the site too
        photo = process(io.BytesIO(_site_photo(rng)), max_bytes=10**7)
        inspections.add_photo(session, report, item, photo, store, when)
    made = inspections.submit(session, report, when + timedelta(hours=1))
    for case in made:
        step = when + timedelta(hours=rng.choice([5, 20, 30, 60]))  # some answered late
        workflow.accept(session, case, dispatcher, case.priority, step)
        if case.suggested_department is not None:
            workflow.route(session, case, dispatcher, case.suggested_department, step)
            handler = case.department.head
            if handler is not None and step + timedelta(days=3) < now:
                workflow.resolve(
                    session,
                    case,
                    handler,
                    "已督促施工单位整改完毕。",
                    [],
                    store,
                    step + timedelta(days=2),
                )
                workflow.close(
                    session,
                    case,
                    assignment.supervisor,
                    "现场核查已整改。",
                    step + timedelta(days=3),
                )
    return 1
