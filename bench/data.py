"""Fill a database with many realistic cases quickly, with bulk inserts."""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from portal.models import STATES, Case, CaseCounter, Category, Zone, utcnow
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
    categories = session.execute(select(Category.id, Category.default_priority)).all()
    district = session.scalars(select(Zone).where(Zone.level == "district")).first()
    now = utcnow()
    year = now.year
    counter = session.get(CaseCounter, year) or CaseCounter(year=year, last_value=0)
    session.add(counter)
    start = counter.last_value
    weights = [3, 3, 5, 6, 4, 60, 6, 3]
    rows = []
    for n in range(start + 1, start + 1 + wanted - have):
        category_id, priority = rng.choice(categories)
        created = now - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
        rows.append(
            {
                "number": f"{year}-{n:07d}",
                "category_id": category_id,
                "state": rng.choices(STATES, weights)[0],
                "priority": priority,
                "source": "web",
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
