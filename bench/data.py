"""Fill a database with many realistic cases quickly, with bulk inserts."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from portal.models import STATES, Case, CaseCounter, Category, Department, Zone, utcnow
from portal.services import cases as case_service

CHUNK = 10_000


def ensure_cases(session: Session, wanted: int, seed: int = 8) -> int:
    """Add synthetic cases until the database holds `wanted`; return how many were added."""
    from portal.services import demo

    demo.load_reference(session)
    session.commit()
    have = session.scalar(select(func.count()).select_from(Case))
    if have >= wanted:
        return 0
    rng = random.Random(seed + have)
    categories = session.execute(
        select(Category.id, Category.default_priority, Category.major_hazard)
    ).all()
    departments = session.scalars(select(Department.id)).all()
    grid_cells = session.scalars(select(Zone.id).where(Zone.level == "grid")).all()
    district = session.scalars(select(Zone).where(Zone.level == "district")).first()
    now = utcnow()
    year = now.year
    counter = session.get(CaseCounter, year) or CaseCounter(year=year, last_value=0)
    session.add(counter)
    start = counter.last_value
    weights = [3, 3, 5, 6, 4, 60, 6, 3]
    rows = []
    for n in range(start + 1, start + 1 + wanted - have):
        category_id, priority, hazard = rng.choice(categories)
        created = now - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
        state = rng.choices(STATES, weights)[0]
        rows.append(
            {
                "number": f"{year}-{n:07d}",
                "category_id": category_id,
                "state": state,
                "priority": priority,
                "source": "inspection" if rng.random() < 0.05 else "web",
                "major_hazard": hazard,
                "department_id": rng.choice(departments) if state != "submitted" else None,
                "zone_id": rng.choice(grid_cells),
                **_clocks(rng, state, created),
                "lat": rng.uniform(district.min_lat - 0.2, district.max_lat + 0.2),
                "lng": rng.uniform(district.min_lng - 0.2, district.max_lng + 0.2),
                "description": "路面破损，请尽快处理。",
                "tracking_token_hash": case_service.hash_token(secrets.token_hex(8) + str(n)),
                "created_at": created,
                "updated_at": created,
            }
        )
        if len(rows) == CHUNK:
            session.execute(insert(Case), rows)
            rows = []
    if rows:
        session.execute(insert(Case), rows)
    counter.last_value = start + wanted - have
    session.commit()
    return wanted - have


def _clocks(rng: random.Random, state: str, created: datetime) -> dict:
    """Return deadlines, answer and resolution times and a rating fitting a state; some late."""
    respond_due, resolve_due = created + timedelta(hours=24), created + timedelta(days=5)
    clocks: dict = {
        "respond_due_at": respond_due,
        "resolve_due_at": resolve_due,
        "responded_at": None,
        "resolved_at": None,
        "closed_at": None,
        "rating": None,
    }  # the same keys in every row, so that the rows insert as one batch
    if state != "submitted":
        clocks["responded_at"] = created + timedelta(hours=rng.uniform(0.2, 30))
    if state in ("resolved", "closed"):
        clocks["resolved_at"] = created + timedelta(days=rng.uniform(0.5, 6.5))
    if state == "closed":
        clocks["closed_at"] = clocks["resolved_at"] + timedelta(hours=2)
        if rng.random() < 0.6:
            clocks["rating"] = rng.choices(
                ["satisfied", "basically_satisfied", "dissatisfied"], [80, 15, 5]
            )[0]
    return clocks
