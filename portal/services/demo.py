"""Load the demo district: reference data and six months of believable cases."""

from __future__ import annotations

import io
import random
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from PIL import Image, ImageDraw
from shapely.geometry import Point, shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import (
    Case,
    CaseEvent,
    CaseFollower,
    CaseRating,
    Category,
    CategoryGroup,
    Department,
    FacilityType,
    ReplyTemplate,
    RoutingRule,
    SlaPolicy,
    SlaTarget,
    User,
    Zone,
)
from portal.services import (
    accounts,
    calendar,
    cases,
    demo_devices,
    demo_facilities,
    demo_hotspots,
    demo_kpi,
    demo_notices,
    demo_open311,
    demo_participation,
    demo_works,
    geo,
    routing,
    sla,
    two_factor,
)
from portal.services import demo_data as data
from portal.services.photos import PhotoStore, process

# How many demo cases end in each state; most are closed, as in a real office.
STATE_MIX = {
    "submitted": 6,
    "accepted": 4,
    "dispatched": 6,
    "in_progress": 6,
    "resolved": 5,
    "closed": 36,
    "rejected": 4,
    "duplicate": 3,
}
FINISHED = ("closed", "rejected", "duplicate")
ORDER = ["submitted", "accepted", "dispatched", "in_progress", "resolved", "closed"]


def load(
    session: Session, store: PhotoStore, *, now: datetime, seed: int = 2026
) -> tuple[dict[str, int], list[tuple[str, str, str, str]]]:
    """Load the demo district if the database is empty.

    Return what was added and the demo accounts as (e-mail, role, password, TOTP seed or ""),
    to show once.
    """
    if session.scalar(select(func.count()).select_from(Case)) or session.scalar(
        select(func.count()).select_from(Zone)
    ):
        return {}, []
    added = load_reference(session)
    logins = load_accounts(session, now)
    added["accounts"] = len(logins)
    added["cases"] = load_cases(session, store, now=now, seed=seed)
    added.update(demo_facilities.load_facilities(session, now, seed))
    added.update(demo_works.load_works(session, store, now, seed))
    added.update(demo_kpi.load_kpi(session, store, now, seed))
    added.update(demo_participation.load_participation(session, now, seed))
    added.update(demo_notices.load_notices(session, store, now, seed))
    office_tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    added.update(demo_hotspots.load_surge(session, now, office_tz, seed))
    # After the works (sites) and whatever facilities exist: devices attach to them.
    added.update(demo_devices.load_devices(session, now, seed))
    return added, logins


def load_accounts(session: Session, now: datetime) -> list[tuple[str, str, str, str]]:
    """Create one demo account per seat, with random passwords; return the logins.

    The roles that must use two-factor sign-in are enrolled, and their seeds returned.
    """
    seats = [
        ("admin", "管理员", None),
        ("dispatcher", "派遣员", None),
        ("supervisor", "市民监督员", None),
    ]
    seats += [
        ("handler", f"{d.name_zh}处置员", d)
        for d in session.scalars(select(Department).order_by(Department.code))
    ]
    logins = []
    for role, name, department in seats:
        email = f"{role}{'-' + department.code.lower() if department else ''}@demo.example.cn"
        password = accounts.generate_password()
        user = accounts.create(session, None, email, name, role, password, department)
        if department is not None and department.head is None:
            department.head = user
        seed = two_factor.enroll(session, user, now) if two_factor.is_required(user) else ""
        logins.append((email, role, password, seed))
    session.flush()
    return logins


def load_reference(session: Session) -> dict[str, int]:
    """Load SLA policies, categories, departments, zones, routing rules and holidays once."""
    if session.scalar(select(func.count()).select_from(Category)):
        return {}
    # The migrations insert the policy of supervisors' findings: take it as it is.
    policies = {p.code: p for p in session.scalars(select(SlaPolicy))}
    for code, zh, en, working, targets in data.SLA_POLICIES:
        if code in policies:
            continue
        policy = SlaPolicy(code=code, name_zh=zh, name_en=en, working_time=working)
        policy.targets = [
            SlaTarget(priority=p, respond_minutes=r, resolve_minutes=s)
            for p, (r, s) in targets.items()
        ]
        policies[code] = policy
    groups = {
        code: CategoryGroup(code=code, name_zh=zh, name_en=en, sort_order=n)
        for n, (code, zh, en) in enumerate(data.GROUPS)
    }
    categories = {}
    for n, (code, kind, zh, en, words, priority, policy, photo, hazard) in enumerate(
        data.CATEGORIES
    ):
        categories[code] = Category(
            code=code,
            group=groups[code[:2]],
            kind=kind,
            name_zh=zh,
            name_en=en,
            keywords=words,
            default_priority=priority,
            sla_policy=policies[policy],
            photo_required=photo,
            major_hazard=hazard,
            sort_order=n,
            description_zh=f"{zh}（{groups[code[:2]].name_zh}）",
            description_en=f"{en} ({groups[code[:2]].name_en})",
        )
    types = {t.code: t for t in session.scalars(select(FacilityType))}
    for code, (type_code, state) in data.FACILITY_BINDINGS.items():
        if code in categories and type_code in types:
            categories[code].facility_type_id = types[type_code].id
            categories[code].facility_state = state
    departments = {
        code: Department(code=code, name_zh=zh, name_en=en, email=mail, phone=phone)
        for code, zh, en, mail, phone in data.DEPARTMENTS
    }
    zones = _zones()
    session.add_all(
        [
            *policies.values(),
            *groups.values(),
            *categories.values(),
            *departments.values(),
            *zones.values(),
        ]
    )
    session.flush()
    for group, department in data.GROUP_ROUTES.items():
        session.add(RoutingRule(group_id=groups[group].id, department=departments[department]))
    for category, group, zone, department in data.SPECIFIC_ROUTES:
        session.add(
            RoutingRule(
                category_id=categories[category].id if category else None,
                group_id=groups[group].id if group else None,
                zone_id=zones[zone].id if zone else None,
                department=departments[department],
            )
        )
    for category, group, title, body in data.REPLY_TEMPLATES:
        session.add(
            ReplyTemplate(
                category=categories[category] if category else None,
                group=groups[group] if group else None,
                title=title,
                body=body,
            )
        )
    days = calendar.seed_from_package(session)
    session.flush()
    return demo_open311.load_questions(session) | {
        "categories": len(categories),
        "departments": len(departments),
        "zones": len(zones),
        "calendar days": days,
    }


def _polygon(corners: tuple[tuple[float, float], ...]) -> dict:
    ring = [list(c) for c in corners]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _zone(code: str, zh: str, en: str, level: str, geometry: dict, parent=None) -> Zone:
    min_lng, min_lat, max_lng, max_lat = geo.zone_bounds(geometry)
    return Zone(
        code=code,
        name_zh=zh,
        name_en=en,
        level=level,
        geometry=geometry,
        parent=parent,
        min_lng=min_lng,
        min_lat=min_lat,
        max_lng=max_lng,
        max_lat=max_lat,
    )


def _mid(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def _zones() -> dict[str, Zone]:
    """Build the district, its four streets and each street's four grid cells."""
    lngs = [c[0] for s in data.STREETS for c in s[3]]
    lats = [c[1] for s in data.STREETS for c in s[3]]
    code, zh, en = data.DISTRICT
    outline = (
        (min(lngs), min(lats)),
        (max(lngs), min(lats)),
        (max(lngs), max(lats)),
        (min(lngs), max(lats)),
    )
    district = _zone(code, zh, en, "district", _polygon(outline))
    zones = {code: district}
    for street_code, street_zh, street_en, (sw, se, ne, nw) in data.STREETS:
        street = _zone(
            street_code, street_zh, street_en, "street", _polygon((sw, se, ne, nw)), district
        )
        zones[street_code] = street
        s, e, n, w = _mid(sw, se), _mid(se, ne), _mid(nw, ne), _mid(sw, nw)
        centre = _mid(s, n)
        cells = [(sw, s, centre, w), (s, se, e, centre), (centre, e, ne, n), (w, centre, n, nw)]
        for k, cell in enumerate(cells, start=1):
            grid_code = f"{street_code}-{k:02d}"
            zones[grid_code] = _zone(
                grid_code,
                f"{street_zh}第{k}网格",
                f"{street_en} grid {k}",
                "grid",
                _polygon(cell),
                street,
            )
    return zones


def _photo(rng: random.Random, label: str, after: bool) -> bytes:
    """Draw a plain street scene: sky, road and a problem (or its repair)."""
    image = Image.new("RGB", (1024, 768), (150, 190, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 430, 1024, 768), fill=(90, 90, 95))
    draw.rectangle((0, 585, 1024, 600), fill=(235, 235, 235))
    x, y = rng.randint(200, 700), rng.randint(470, 650)
    if after:
        draw.rectangle((x, y, x + 180, y + 70), fill=(60, 60, 66))
    else:
        draw.ellipse((x, y, x + 180, y + 70), fill=(40, 30, 25), outline=(200, 160, 40), width=6)
    draw.text((20, 20), label, fill=(20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _random_point(rng: random.Random, district: Zone) -> tuple[float, float]:
    area = shape(district.geometry)
    while True:
        lat = rng.uniform(district.min_lat, district.max_lat)
        lng = rng.uniform(district.min_lng, district.max_lng)
        if area.contains(Point(lng, lat)):
            return round(lat, 6), round(lng, 6)


def load_cases(session: Session, store: PhotoStore, *, now: datetime, seed: int = 2026) -> int:
    """Create demo cases over the six months before now, each with its timeline."""
    rng = random.Random(seed)
    categories = list(session.scalars(select(Category).order_by(Category.code)))
    district = session.scalars(select(Zone).where(Zone.level == "district")).one()
    # Old cases are mostly finished; the open ones are the recent ones, as in a real office.
    finished = [s for s, n in STATE_MIX.items() for _ in range(n) if s in FINISHED]
    ongoing = [s for s, n in STATE_MIX.items() for _ in range(n) if s not in FINISHED]
    rng.shuffle(finished)
    rng.shuffle(ongoing)
    states = finished + ongoing
    starts = sorted(now - timedelta(minutes=rng.randint(60, 182 * 24 * 60)) for _ in finished)
    starts += sorted(now - timedelta(minutes=rng.randint(30, 10 * 24 * 60)) for _ in ongoing)
    made: list[Case] = []
    for state, created in sorted(zip(states, starts, strict=True), key=lambda pair: pair[1]):
        case = _case(session, rng, rng.choice(categories), district, created)
        _advance(session, rng, case, state, made, now)
        if rng.random() < 0.5:
            label = f"{case.number} {case.category.name_en}"
            photos = [process(io.BytesIO(_photo(rng, label, False)), max_bytes=10**7)]
            cases.attach_photos(session, case, photos, store, "report", created)
        made.append(case)
    session.flush()
    return len(made)


def _case(
    session: Session, rng: random.Random, category: Category, district: Zone, created: datetime
) -> Case:
    lat, lng = _random_point(rng, district)
    road, road2 = rng.sample(data.ROADS, 2)
    template = rng.choice(data.DESCRIPTIONS[category.code[:2]])
    landmark = rng.choice(data.LANDMARKS)
    number = rng.randint(1, 300)
    surname = rng.choice("张王李赵刘陈杨黄周吴")
    case = Case(
        number=cases.next_case_number(session, cases.case_year(created)),
        category=category,
        zone=geo.zone_for_point(session, lat, lng),
        state="submitted",
        priority=category.default_priority,
        source=rng.choice(["web"] * 6 + ["phone", "api"]),
        lat=lat,
        lng=lng,
        address=f"{road}{number}号{landmark}附近",
        description=template.format(road=road, road2=road2, landmark=landmark, n=number),
        major_hazard=category.major_hazard,
        reporter_name=f"{surname}{rng.choice(['先生', '女士'])}",
        reporter_phone=f"1380000{rng.randint(0, 9999):04d}",
        reporter_hide_name=rng.random() < 0.7,
        tracking_token_hash=cases.hash_token(secrets.token_urlsafe(24)),
        created_at=created,
        updated_at=created,
    )
    sla.start_clocks(session, case, created)
    session.add(case)
    session.add(CaseEvent(case=case, kind="submitted", to_state="submitted", created_at=created))
    return case


def _advance(
    session: Session, rng: random.Random, case: Case, state: str, made: list[Case], now: datetime
) -> None:
    """Walk a case through the lifecycle to its demo state, writing its timeline."""
    clock = case.created_at
    late = rng.random() < 0.15

    dispatcher = session.scalar(select(User).where(User.role == "dispatcher"))

    def step(
        kind: str,
        to_state: str | None,
        body: str = "",
        public: bool = True,
        details: dict | None = None,
    ) -> None:
        nonlocal clock
        due = case.respond_due_at if to_state == "accepted" else case.resolve_due_at
        budget = (due - clock) if due and due > clock else timedelta(hours=2)
        gap = budget * (1.3 if late else rng.uniform(0.1, 0.3)) / 3
        clock = min(clock + max(gap, timedelta(minutes=5)), now - timedelta(minutes=1))
        handler_step = kind in ("in_progress", "public_reply", "resolved", "internal_note")
        session.add(
            CaseEvent(
                case=case,
                kind=kind,
                actor=case.department.head if handler_step and case.department else dispatcher,
                from_state=case.state if to_state else None,
                to_state=to_state,
                body=body,
                public=public,
                data=details or {},
                created_at=clock,
            )
        )
        if to_state:
            case.state = to_state
        case.updated_at = clock

    if state == "rejected":
        step("rejected", "rejected", rng.choice(data.REJECT_REASONS))
        case.responded_at = clock
        return
    if state == "duplicate":
        same = [c for c in made if c.category_id == case.category_id] or made[-1:]
        if same:
            case.merged_into = same[-1]
            step("merged", "duplicate", f"与 {same[-1].number} 合并处理")
            case.responded_at = clock
            return
        state = "submitted"
    target = ORDER.index(state)
    if target >= 1:
        step("accepted", "accepted", "已立案")
        case.responded_at = clock
    if target >= 2:
        case.department = routing.suggest(session, case)
        step("dispatched", "dispatched", f"派遣至{case.department.name_zh}")
        step("internal_note", None, "请尽快到现场核实。", public=False)
    if target >= 3:
        step("in_progress", "in_progress")
        step("public_reply", None, rng.choice(data.REPLIES[:4]))
    if late and case.resolve_due_at and clock > case.resolve_due_at:
        session.add(
            CaseEvent(
                case=case,
                kind="escalated",
                created_at=case.resolve_due_at,
                data={"clock": "resolve"},
            )
        )
        case.resolve_warned_at = case.resolve_escalated_at = case.resolve_due_at
    if target >= 4:
        step("resolved", "resolved", data.REPLIES[4])
        case.resolved_at = clock
    if target >= 5:
        step("closed", "closed", "经核查，问题已解决，予以结案。")
        case.closed_at = clock
        if rng.random() < 0.7:
            rating = rng.choices(["satisfied", "basically_satisfied", "dissatisfied"], [80, 15, 5])[
                0
            ]
            step("rated", None, details={"rating": rating, "cycle": case.cycle})
            case.rating, case.rated_at = rating, clock
            session.add(CaseRating(case=case, cycle=case.cycle, rating=rating, created_at=clock))
    if case.is_open and rng.random() < 0.3:
        followers = rng.randint(1, 4)
        session.add_all(CaseFollower(case=case, created_at=clock) for _ in range(followers))
        case.followers_count = followers
