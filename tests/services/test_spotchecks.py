"""Monthly spot-check assignment: coverage, no repeats, reproducibility."""

from collections import Counter

import pytest
from sqlalchemy import select

from portal.models import Project, Zone, utcnow
from portal.services import spotchecks
from tests.factories import make_user


@pytest.fixture
def district(db, reference):
    zones = db.session.scalars(select(Zone).where(Zone.level == "street")).all()
    supervisors = [make_user(db.session, "supervisor", zone_id=zones[i % 4].id) for i in range(4)]
    for n in range(10):
        lng = 120.135 + n * 0.004
        db.session.add(
            Project(
                code=f"P{n}",
                name=f"工地{n}",
                lat=30.27,
                lng=lng,
                geometry={"type": "Point", "coordinates": [lng, 30.27]},
                phase="construction",
                active_site=n != 9,
            )
        )
    db.session.commit()
    return supervisors


def pairs(round_) -> set[tuple[int, int]]:
    return {(a.supervisor_id, a.project_id) for a in round_.assignments}


def test_every_active_site_is_covered_when_supervisors_suffice(db, district):
    round_ = spotchecks.assign(db.session, "2026-12", 3, seed=7, actor=None, now=utcnow())
    covered = {a.project_id for a in round_.assignments}
    active = set(db.session.scalars(select(Project.id).where(Project.active_site)))
    assert covered == active
    per_supervisor = Counter(a.supervisor_id for a in round_.assignments)
    assert set(per_supervisor.values()) == {3}
    assert len(pairs(round_)) == len(round_.assignments)  # nobody gets a site twice


def test_the_same_seed_gives_the_same_assignment(db, district):
    first = pairs(spotchecks.assign(db.session, "2026-12", 2, seed=42, actor=None, now=utcnow()))
    again = pairs(
        spotchecks.assign(db.session, "2026-12", 2, seed=42, actor=None, now=utcnow(), force=True)
    )
    assert first == again


def test_it_refuses_to_run_twice_for_a_month_unless_forced(db, district):
    spotchecks.assign(db.session, "2026-12", 2, seed=1, actor=None, now=utcnow())
    with pytest.raises(spotchecks.SpotCheckError):
        spotchecks.assign(db.session, "2026-12", 2, seed=2, actor=None, now=utcnow())
    with pytest.raises(spotchecks.SpotCheckError):
        spotchecks.assign(db.session, "2026-13", 2, seed=2, actor=None, now=utcnow())


def test_nobody_checks_the_same_site_two_months_running_when_avoidable(db, district):
    november = pairs(spotchecks.assign(db.session, "2026-11", 2, seed=3, actor=None, now=utcnow()))
    december = pairs(spotchecks.assign(db.session, "2026-12", 2, seed=3, actor=None, now=utcnow()))
    assert not november & december


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_sites_near_the_supervisors_zone_come_first(db, reference, seed):
    zones = {z.code: z for z in db.session.scalars(select(Zone).where(Zone.level == "street"))}
    west = make_user(db.session, "supervisor", zone_id=zones["GS-MS"].id)  # centre lng 120.1428
    east = make_user(db.session, "supervisor", zone_id=zones["GS-HS"].id)  # centre lng 120.1675
    for code, lng in (("W1", 120.1405), ("W2", 120.1425), ("E1", 120.1675), ("E2", 120.1695)):
        db.session.add(
            Project(
                code=code,
                name=code,
                lat=30.2675,
                lng=lng,
                geometry={"type": "Point", "coordinates": [lng, 30.2675]},
                phase="construction",
                active_site=True,
            )
        )
    db.session.commit()
    round_ = spotchecks.assign(db.session, "2026-12", 2, seed=seed, actor=None, now=utcnow())
    sites = {
        who.id: sorted(a.project.code for a in round_.assignments if a.supervisor_id == who.id)
        for who in (west, east)
    }
    assert sites == {west.id: ["W1", "W2"], east.id: ["E1", "E2"]}
