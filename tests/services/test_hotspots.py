"""Grid hotspots: a cell's week against its own baseline (Poisson upper-tail test).

Generated histories with planted surges print the precision and recall; a flat history
raises nothing; one or two cases never make a hotspot."""

import math
import random
import secrets
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from portal.models import Case, Category, CategoryGroup, Hotspot, Zone
from portal.services import hotspots

TZ = ZoneInfo("Asia/Shanghai")
WEEK = date(2026, 11, 23)  # a Monday
METHOD = hotspots.Method(baseline_weeks=8, min_count=3, alpha=0.001)


def poisson(rng: random.Random, lam: float) -> int:
    """Draw from Poisson(lam) (Knuth's method: the rates here are small)."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def history(rng: random.Random, pairs: int, surges: int) -> tuple[dict, set]:
    """Make weekly series for cell × group pairs with their own rates; plant surges."""
    counts, planted = {}, set()
    for pair in range(pairs):
        rate = rng.choice([0.05, 0.2, 0.5, 1, 2, 4])
        series = [poisson(rng, rate) for _ in range(METHOD.baseline_weeks + 1)]
        if pair < surges:  # a surge: five times the usual week, and at least 5 cases more
            series[-1] = poisson(rng, rate) + max(5, round(4 * rate) + 4)
            planted.add((pair, 1))
        counts[(pair, 1)] = series
    return counts, planted


def test_binomial_tail_matches_the_exact_sums():
    assert hotspots.binomial_tail(0, 5, 0.2) == 1.0
    assert hotspots.binomial_tail(6, 5, 0.2) == 0.0
    assert hotspots.binomial_tail(1, 5, 0.2) == pytest.approx(1 - 0.8**5)
    assert hotspots.binomial_tail(4, 4, 1 / 9) == pytest.approx(9**-4)
    # far in the tail the value keeps its digits instead of becoming 0
    assert 0 < hotspots.binomial_tail(40, 40, 1 / 9) < 1e-37


def test_planted_surges_are_found_with_good_precision_and_recall():
    rng = random.Random(15)
    counts, planted = history(rng, pairs=2000, surges=60)
    found = {(f.zone_id, f.group_id) for f in hotspots.detect(counts, METHOD)}
    hits = len(found & planted)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(planted)
    print(
        f"\nhotspots: {len(found)} raised, {hits} of {len(planted)} planted surges found: "
        f"precision {precision:.2f}, recall {recall:.2f}"
    )
    assert precision >= 0.9
    assert recall >= 0.9


def test_a_flat_history_raises_nothing():
    rng = random.Random(16)
    rates = [rng.choice([0.1, 0.5, 1, 3]) for _ in range(2000)]  # each pair its own steady rate
    counts = {(pair, 1): [poisson(rng, rate) for _ in range(9)] for pair, rate in enumerate(rates)}
    found = hotspots.detect(counts, METHOD)
    print(f"\nflat history: {len(found)} hotspots over 2000 cell × group pairs")
    assert len(found) <= 2  # α = 0.001 over 2000 tests: two false alarms at most
    constant = {(pair, 1): [3] * 9 for pair in range(100)}
    assert hotspots.detect(constant, METHOD) == []


def test_one_or_two_cases_never_make_a_hotspot():
    quiet = {(1, 1): [0] * 8 + [2], (2, 1): [0] * 8 + [1], (3, 1): [0] * 8 + [3]}
    assert hotspots.detect(quiet, METHOD) == []
    assert [f.zone_id for f in hotspots.detect({(4, 1): [0] * 8 + [4]}, METHOD)] == [4]
    low = hotspots.Method(baseline_weeks=8, min_count=3, alpha=0.01)  # 3 of 3: p = 1/729
    assert [f.observed for f in hotspots.detect({(5, 1): [0] * 8 + [3]}, low)] == [3]
    assert hotspots.detect({(6, 1): [0] * 8 + [2]}, low) == []


def test_weeks_are_read_as_iso_weeks_or_dates():
    assert hotspots.parse_week("2026-W48") == WEEK
    assert hotspots.parse_week("2026-11-26") == WEEK
    for bad in ("", "2026-W99", "yesterday", "0001-01-01", "9999-12-31", "2026-13-01"):
        with pytest.raises(hotspots.HotspotError):
            hotspots.parse_week(bad)


def add_cases(db, zone: Zone, category: Category, when: list[datetime], state="submitted"):
    db.session.execute(
        insert(Case),
        [
            {
                "number": f"T{secrets.token_hex(6)}",
                "category_id": category.id,
                "zone_id": zone.id,
                "state": state,
                "lat": (zone.min_lat + zone.max_lat) / 2,
                "lng": (zone.min_lng + zone.max_lng) / 2,
                "description": "积水",
                "tracking_token_hash": secrets.token_hex(32),
                "created_at": moment,
                "updated_at": moment,
            }
            for moment in when
        ],
    )


def at(week: date, days: float) -> datetime:
    return hotspots.week_start_utc(week, TZ) + timedelta(days=days)


@pytest.fixture
def cells(db, reference):
    grid = db.session.scalars(select(Zone).where(Zone.level == "grid").order_by(Zone.code)).all()
    drain = db.session.scalar(
        select(Category).join(CategoryGroup).where(CategoryGroup.code == "02")
    )
    road = db.session.scalar(select(Category).join(CategoryGroup).where(CategoryGroup.code == "01"))
    return grid, drain, road


def test_compute_keeps_the_surge_with_its_cases_and_replaces_only_its_week(db, cells):
    grid, drain, road = cells
    quiet, busy = grid[0], grid[5]
    # busy cell: one drainage case every other week, then 6 this week (and 2 duplicates)
    add_cases(db, busy, drain, [at(WEEK - timedelta(weeks=w), 2) for w in (2, 4, 6, 8)])
    add_cases(db, busy, drain, [at(WEEK, d) for d in (0.1, 1, 2, 3, 4, 4.5)])
    add_cases(db, busy, drain, [at(WEEK, 5), at(WEEK, 5.5)], state="duplicate")
    # the same cell's roads are as usual; the quiet cell has its usual two road cases
    add_cases(db, busy, road, [at(WEEK - timedelta(weeks=w), 1) for w in range(9)])
    add_cases(db, quiet, road, [at(WEEK, 1), at(WEEK, 2)])
    db.session.commit()
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    older = hotspots.compute(db.session, WEEK - timedelta(weeks=1), METHOD, TZ, now)
    assert older == []
    found = hotspots.compute(db.session, WEEK, METHOD, TZ, now)
    db.session.commit()
    assert [(h.zone_id, h.group.code, h.observed) for h in found] == [(busy.id, "02", 6)]
    spot = found[0]
    assert spot.expected == pytest.approx(0.5)
    assert spot.p_value == pytest.approx(hotspots.binomial_tail(6, 10, 1 / 9))
    behind = db.session.scalars(select(Case.state).where(Case.id.in_(spot.case_ids))).all()
    assert len(behind) == 6 and set(behind) == {"submitted"}
    # recomputing the week replaces its rows; another week's rows stay
    db.session.add(
        Hotspot(
            week_start=WEEK - timedelta(weeks=3),
            zone_id=quiet.id,
            group_id=road.group_id,
            observed=4,
            expected=0.2,
            baseline_weeks=8,
            p_value=0.0001,
            case_ids=[],
        )
    )
    db.session.commit()
    hotspots.compute(db.session, WEEK, METHOD, TZ, now)
    db.session.commit()
    weeks = db.session.scalars(select(Hotspot.week_start).order_by(Hotspot.week_start)).all()
    assert weeks == [WEEK - timedelta(weeks=3), WEEK]
    assert hotspots.latest_week(db.session) == WEEK
    assert [h.week_start for h in hotspots.history(db.session, quiet.id, road.group_id)] == [
        WEEK - timedelta(weeks=3)
    ]


def test_the_cli_computes_a_week_and_refuses_a_bad_one(db, cells, runner):
    grid, drain, _ = cells
    add_cases(db, grid[3], drain, [at(WEEK, d) for d in (1, 2, 3, 4)])  # 4 after none
    db.session.commit()
    result = runner.invoke(args=["hotspots", "compute", "--week", "2026-W48"])
    assert result.exit_code == 0, result.output
    assert "1 hotspot" in result.output
    assert db.session.scalar(select(Hotspot.observed)) == 4
    result = runner.invoke(args=["hotspots", "compute", "--week", "2026-W77"])
    assert result.exit_code != 0
    assert "week" in result.output


def test_the_sla_sweep_can_recompute_this_weeks_hotspots(db, cells, runner):
    result = runner.invoke(args=["sla", "sweep", "--hotspots"])
    assert result.exit_code == 0, result.output
    assert "reminded" in result.output and "hotspot(s)" in result.output
