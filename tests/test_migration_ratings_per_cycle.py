"""The migration to ratings per cycle (b36b2df4806f): its data step."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, select, update

from portal.models import Case, CaseEvent, CaseRating, utcnow
from tests.factories import make_case

MIGRATION = next(
    (Path(__file__).parent.parent / "migrations" / "versions").glob("*_b36b2df4806f_*.py")
)


def load_migration():
    spec = importlib.util.spec_from_file_location("ratings_per_cycle", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_existing_ratings_move_into_the_cycle_they_were_given_in(db, reference):
    now = utcnow()
    rated, _ = make_case(db.session)  # closed and rated satisfied, with a comment
    reopened, _ = make_case(db.session)  # rated dissatisfied, reopened, fixed and closed again
    reworked, _ = make_case(db.session)  # sent back by staff, never rated
    for case in (rated, reopened, reworked):
        case.state, case.closed_at = "closed", now - timedelta(days=2)
    rated.rating, rated.rated_at = "satisfied", now - timedelta(days=1)
    reopened.rating, reopened.rated_at = "dissatisfied", now - timedelta(days=1)
    db.session.add_all(
        [
            CaseEvent(case=rated, kind="rated", body="很快", created_at=rated.rated_at),
            CaseEvent(case=reopened, kind="rated", body="没修好", created_at=reopened.rated_at),
            CaseEvent(case=reopened, kind="reopened", created_at=reopened.rated_at),
            CaseEvent(case=reworked, kind="rework", created_at=now - timedelta(days=3)),
        ]
    )
    db.session.commit()
    # As the data stood before the migration: no rows, every case in cycle 1.
    db.session.execute(delete(CaseRating))
    db.session.execute(update(Case).values(cycle=1))
    db.session.commit()

    load_migration().move_ratings(db.session.connection())
    db.session.commit()
    db.session.expire_all()

    assert [(c.cycle) for c in (rated, reopened, reworked)] == [1, 2, 2]
    rows = db.session.execute(
        select(CaseRating.case_id, CaseRating.cycle, CaseRating.rating, CaseRating.comment)
    ).all()
    assert sorted(rows) == sorted(
        [(rated.id, 1, "satisfied", "很快"), (reopened.id, 1, "dissatisfied", "没修好")]
    )
