"""The demo district's facility inventory: realistic, deterministic, fast to load."""

import itertools
from collections import Counter
from datetime import timedelta

from shapely.geometry import Point, shape
from sqlalchemy import func, select

from portal.models import Case, Category, Facility, FacilityType, Zone, utcnow
from portal.services import demo, demo_facilities, facilities, facility_register, geo
from portal.services.photos import PhotoStore


def test_the_demo_inventory(app, db):
    added, _ = demo.load(db.session, PhotoStore(app.config["UPLOAD_DIR"]), now=utcnow())
    db.session.commit()
    assert added["facilities"] >= 5000
    types = dict(
        db.session.execute(
            select(FacilityType.code, func.count(Facility.id))
            .join(Facility, Facility.type_id == FacilityType.id)
            .group_by(FacilityType.code)
        ).all()
    )
    assert types["0129"] >= 2000 and types["0104"] >= 1000 and types["0201"] >= 50
    assert all(types[c] >= 100 for c in ("0101", "0102", "0103", "0106", "0108", "0112"))
    assert types["0204"] >= 3 and types["0208"] >= 20
    # Every facility inside the district, in a grid cell, owned, with a unique code.
    district = shape(db.session.scalar(select(Zone.geometry).where(Zone.level == "district")))
    rows = db.session.execute(
        select(Facility.code, Facility.lat, Facility.lng, Facility.grid_id, Facility.department_id)
    ).all()
    assert all(district.covers(Point(r.lng, r.lat)) for r in rows)
    assert all(r.grid_id and r.department_id for r in rows)
    assert len({r.code for r in rows}) == len(rows)
    # Lamps every 30–40 m along one side of the first road.
    lamp_type = db.session.scalar(select(FacilityType).where(FacilityType.code == "0129"))
    side = db.session.scalars(
        select(Facility)
        .where(Facility.type_id == lamp_type.id, Facility.address.like("湖墅南路北侧%"))
        .order_by(Facility.lng)
    ).all()
    gaps = [geo.distance_m((a.lat, a.lng), (b.lat, b.lng)) for a, b in itertools.pairwise(side)]
    assert len(side) > 100 and all(29.5 <= g <= 40.5 for g in gaps)
    # 路灯不亮 names the lamps; nearby lamps for the report form.
    category = db.session.scalar(select(Category).where(Category.code == "0301"))
    assert category.facility_type_id == lamp_type.id
    near = facilities.nearby(db.session, lamp_type.id, side[10].lat, side[10].lng)
    assert near[0][0] == side[10] and len(near) >= 5
    # One lamp failed three times in ninety days.
    since = utcnow() - timedelta(days=90)
    counts = Counter(
        db.session.scalars(
            select(Case.facility_id).where(Case.facility_id.is_not(None), Case.created_at >= since)
        )
    )
    assert max(counts.values()) >= 3
    attached = db.session.scalars(select(Case).where(Case.facility_id.is_not(None))).all()
    assert len(attached) >= 10
    assert all(
        c.category.facility_type_id in facility_register.family(db.session, c.facility.type_id)
        for c in attached
    )


def test_the_plan_is_deterministic():
    import random

    first = list(demo_facilities._plan(random.Random(1)))
    assert first == list(demo_facilities._plan(random.Random(1)))
    assert len(first) >= 5000
