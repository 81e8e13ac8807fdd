"""500 residents report at once, with photos, through gunicorn on PostgreSQL and Redis."""

import time

import pytest
from sqlalchemy import func, select

from portal.models import Case, Photo
from portal.services.photos import PhotoStore
from tests.factories import category
from tests.load.harness import Resident, kinds, latency, photo, run_all

pytestmark = pytest.mark.load

RESIDENTS = 500


def test_500_residents_report_at_once(app, db, server, figures):
    shared = photo(99999)  # every resident also sends the same photo: one file, many rows
    residents = [
        Resident(
            server.base,
            n,
            category(db.session).code,
            [photo(n), shared],
            address=f"10.1.{n // 256}.{n % 256}",
        )
        for n in range(RESIDENTS)
    ]
    began = time.monotonic()
    outcomes = run_all(residents, barrier=True)
    elapsed = time.monotonic() - began

    created = [o for o in outcomes if o.kind == "created"]
    told = [o.number for o in created]
    db.session.expire_all()
    numbers = db.session.scalars(select(Case.number)).all()
    figures(
        residents=RESIDENTS,
        requests=sum(o.requests for o in outcomes),
        outcomes=kinds(outcomes),
        **latency([o.seconds for o in outcomes if o.seconds]),
        seconds_in_all=round(elapsed, 1),
        cases_in_database=len(numbers),
        photo_rows=db.session.scalar(select(func.count()).select_from(Photo)),
    )
    failed = [(o.kind, o.detail) for o in outcomes if o.kind not in ("created", "429")]
    assert not failed, failed[:5]
    assert len(numbers) == len(created)
    assert len(set(told)) == len(told) and sorted(told) == sorted(numbers)
    assert all(o.shown == o.number for o in created)
    store = PhotoStore(app.config["UPLOAD_DIR"])
    for case in db.session.scalars(select(Case)):
        assert len(case.photos) == 2
        assert all(store.exists(p.sha256) for p in case.photos)
