"""Fill a database with many realistic cases quickly, with bulk inserts.

Each case gets a category, a grid cell and a department, a point in or around the demo
district, a state with the timeline that led to it (case events), its SLA deadlines and
check times, and most get a photo: a row pointing at one of a few shared files, as many
cases in a real city show the same kind of pothole.
"""

from __future__ import annotations

import io
import random
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from PIL import Image
from sqlalchemy import JSON, func, insert, select, text
from sqlalchemy.orm import Session

from portal.models import (
    STATES,
    Case,
    CaseCounter,
    CaseEvent,
    CaseSearch,
    Category,
    Department,
    Photo,
    Zone,
    utcnow,
)
from portal.services import cases as case_service
from portal.services import photos, search_index

CHUNK = 10_000
WEIGHTS = [3, 3, 5, 6, 4, 60, 6, 3]  # the share of each of STATES, most cases closed
# The steps of the timeline that lead to each state, after "submitted".
PATH = {
    "submitted": (),
    "accepted": ("accepted",),
    "dispatched": ("accepted", "dispatched"),
    "in_progress": ("accepted", "dispatched", "in_progress"),
    "resolved": ("dispatched", "in_progress", "resolved"),
    "closed": ("dispatched", "in_progress", "resolved", "closed"),
    "rejected": ("rejected",),
    "duplicate": ("merged",),
}
STEP_STATE = {"merged": "duplicate"}
# A description is a place, a problem and a detail, as residents write them; some details
# carry numbers and mixed terms (a manhole's number, a road's kilometre stake, a bus line).
PLACES = (
    "小区门口",
    "公交站旁",
    "学校附近",
    "菜场东侧",
    "地铁口",
    "桥下",
    "十字路口",
    "人行道上",
    "绿化带边",
    "停车场入口",
    "商场后门",
    "医院对面",
    "公园南门",
    "河边步道",
    "加油站旁",
    "银行门口",
    "幼儿园旁边",
    "农贸市场",
    "老旧小区内",
    "高架桥下",
)
PROBLEMS = (
    "井盖缺失",
    "井盖松动",
    "井盖破损",
    "路灯不亮",
    "路灯闪烁",
    "积水严重",
    "路面塌陷",
    "路面坑洼",
    "垃圾堆放",
    "垃圾桶满溢",
    "违章停车",
    "占道经营",
    "噪音扰民",
    "油烟扰民",
    "树木倒伏",
    "树枝遮挡信号灯",
    "下水道堵塞",
    "护栏损坏",
    "窨井冒水",
    "共享单车乱停",
    "广告牌松动",
    "电线裸露",
    "消防通道堵塞",
    "施工扬尘",
    "渣土车撒漏",
    "道路标线模糊",
    "盲道被占",
    "水管爆裂",
    "污水外溢",
    "雨水篦子堵塞",
    "公厕脏乱",
    "施工围挡倒塌",
    "交通标志被遮挡",
    "路边摊噪音",
    "楼道堆物",
    "井盖异响",
    "红绿灯故障",
    "人行道砖松动",
    "野广告乱贴",
    "绿化带缺株",
)
DETAILS = (
    "，请尽快处理。",
    "，已经三天了。",
    "，行人有危险。",
    "，晚上尤其明显。",
    "，多次反映未解决。",
    "。",
    "，附近是{n}号井。",
    "，位于K{k}+{m}附近。",
    "，{n}路公交站旁。",
    "，门牌{n}号对面。",
    "，编号{k}-{m}的路灯。",
    "，老人小孩经过很不安全。",
)
STREETS = (
    "文三路",
    "教工路",
    "学院路",
    "天目山路",
    "古墩路",
    "莫干山路",
    "体育场路",
    "环城北路",
    "文一路",
    "文二路",
    "保俶路",
    "西溪路",
    "紫荆花路",
    "丰潭路",
    "余杭塘路",
    "湖墅南路",
    "德胜路",
    "庆春路",
    "凤起路",
    "延安路",
    "中山北路",
    "建国北路",
    "秋涛路",
    "登云路",
)
REPLIES = (
    "已派人到现场处理，问题已解决。",
    "已通知{dept}维修，感谢您的反馈。",
    "经核实已修复，如有问题请再次反映。",
    "已联系养护单位，{n}日内完成。",
)
# Fifty searches as residents and dispatchers type them (2 to 6 characters): problems,
# places, streets, words of the replies, numbers and mixed terms.
SEARCH_QUERIES = (
    "井盖",
    "积水",
    "路灯",
    "塌陷",
    "垃圾",
    "噪音",
    "油烟",
    "护栏",
    "窨井",
    "电线",
    "扬尘",
    "标线",
    "盲道",
    "污水",
    "公厕",
    "围挡",
    "篦子",
    "路灯不亮",
    "井盖缺失",
    "违章停车",
    "树木倒伏",
    "下水道",
    "共享单车",
    "广告牌",
    "消防通道",
    "渣土车",
    "水管爆裂",
    "红绿灯",
    "野广告",
    "绿化带",
    "文三路",
    "教工路",
    "天目山路",
    "古墩路",
    "小区门口",
    "地铁口",
    "幼儿园",
    "公交站",
    "医院对面",
    "菜场",
    "已修复",
    "养护单位",
    "3号井",
    "12号井",
    "K7+500",
    "K12+3",
    "28路",
    "门牌88号",
    "000123",
    "文三路12",
)
NOTES = ("请尽快到现场核实。", "联系人电话已记录，勿外传。", "与{n}号工单为同一问题。")
PHOTO_SHARE = 0.7  # cases reported with a photo
SHARED_PHOTOS = 4


def ensure_cases(session: Session, wanted: int, seed: int = 8, *, open_only: bool = False) -> int:
    """Add synthetic cases until the database holds `wanted`; return how many were added.

    With `open_only`, every case added is recent and open with its resolve clock running
    and its check time ahead (the SLA sweep's pessimistic case: many open, none due).
    """
    from portal.services import demo

    demo.load_reference(session)
    session.commit()
    have = session.scalar(select(func.count()).select_from(Case))
    if have >= wanted:
        if session.scalar(select(func.count()).select_from(CaseSearch)) < have:
            _build_search_index(session)  # a fill stopped during the build goes on from there
        return 0
    rng = random.Random(seed + have)
    categories = session.execute(
        select(Category.id, Category.default_priority, Category.major_hazard)
    ).all()
    departments = session.scalars(select(Department.id)).all()
    grid_cells = session.scalars(select(Zone.id).where(Zone.level == "grid")).all()
    district = session.scalars(select(Zone).where(Zone.level == "district")).first()
    shared = _shared_photos(rng)
    now = utcnow()
    year = now.year
    counter = session.get(CaseCounter, year) or CaseCounter(year=year, last_value=0)
    session.add(counter)
    start = counter.last_value
    next_case = (session.scalar(select(func.max(Case.id))) or 0) + 1
    next_event = (session.scalar(select(func.max(CaseEvent.id))) or 0) + 1
    cases, events, pictures = [], [], []
    for n in range(start + 1, start + 1 + wanted - have):
        category_id, priority, hazard = rng.choice(categories)
        if open_only:
            created = now - timedelta(seconds=rng.randint(3600, 3 * 86400))
            state = rng.choice(("accepted", "dispatched", "in_progress"))
        else:
            created = now - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
            state = rng.choices(STATES, WEIGHTS)[0]
        clocks = _clocks(rng, state, created, now)
        if open_only:  # respond answered, resolve clock's 75% check days ahead
            clocks["resolve_due_at"] = now + timedelta(days=rng.uniform(2, 6))
            clocks["resolve_check_at"] = clocks["resolve_due_at"] - timedelta(days=1)
            clocks["resolve_warned_at"] = clocks["resolve_escalated_at"] = None
        cases.append(
            {
                "id": next_case,
                "number": f"{year}-{n:07d}",
                "category_id": category_id,
                "state": state,
                "priority": priority,
                "source": "inspection" if rng.random() < 0.05 else "web",
                "major_hazard": hazard,
                "department_id": rng.choice(departments) if state != "submitted" else None,
                "zone_id": rng.choice(grid_cells),
                **clocks,
                "lat": rng.uniform(district.min_lat - 0.2, district.max_lat + 0.2),
                "lng": rng.uniform(district.min_lng - 0.2, district.max_lng + 0.2),
                "address": f"{rng.choice(STREETS)}{rng.randint(1, 400)}号",
                "description": describe(rng),
                "tracking_token_hash": case_service.hash_token(secrets.token_hex(8) + str(n)),
                "created_at": created,
                "updated_at": created,
            }
        )
        next_event = _timeline(events, next_case, state, created, clocks, next_event, rng)
        if rng.random() < PHOTO_SHARE:
            sha256, width, height = rng.choice(shared)
            pictures.append(
                {
                    "case_id": next_case,
                    "sha256": sha256,
                    "width": width,
                    "height": height,
                    "created_at": created,
                }
            )
        next_case += 1
        if len(cases) == CHUNK:
            _flush(session, cases, events, pictures)
    _flush(session, cases, events, pictures)
    counter.last_value = start + wanted - have
    if session.get_bind().dialect.name == "postgresql":  # ids were given: move the sequences on
        for table in ("cases", "case_event"):
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            session.execute(text(f"SELECT setval({sequence}, max(id)) FROM {table}"))  # noqa: S608
    session.commit()
    _build_search_index(session)
    return wanted - have


def _build_search_index(session: Session) -> None:
    """Index the cases without a search row (the bulk inserts passed the ORM's hook)."""
    # PostgreSQL: a transaction per batch, so that a build stopped midway goes on from where
    # it stopped at the next fill. SQLite: one transaction, the FTS5 table rebuilt at its end
    # (minutes at a million cases, where its triggers took about an hour).
    with session.get_bind().connect() as connection:
        sqlite = connection.dialect.name == "sqlite"

        def each_batch(done: int, total: int) -> None:
            if not sqlite:
                connection.commit()
            print(f"search index: {done:,} / {total:,} cases", flush=True)

        if sqlite:
            search_index.reindex_in_bulk(connection, only_missing=True, progress=each_batch)
        else:
            search_index.reindex(connection, batch=10_000, only_missing=True, progress=each_batch)
        connection.commit()


def _flush(session: Session, cases: list, events: list, pictures: list) -> None:
    """Insert the gathered rows in three bulk statements and empty the lists."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    for model, rows in ((Case, cases), (CaseEvent, events), (Photo, pictures)):
        if rows:
            if postgresql:
                _copy(session, model.__table__, rows)
            else:
                session.execute(insert(model), rows)
            rows.clear()


def _copy(session: Session, table, rows: list[dict]) -> None:
    """Insert rows with PostgreSQL's COPY, filling the columns' Python defaults first."""
    from psycopg.types.json import Json

    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if column.name not in rows[0] and column.default is not None
    }
    names = [*rows[0], *defaults]
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            values = {**row, **{k: v(None) if callable(v) else v for k, v in defaults.items()}}
            copy.write_row([Json(values[n]) if n in json_columns else values[n] for n in names])


def describe(rng: random.Random) -> str:
    """Return a resident's description: a place, a problem and a detail."""
    detail = rng.choice(DETAILS).format(
        n=rng.randint(1, 300), k=rng.randint(1, 40), m=rng.choice(("000", "100", "300", "500"))
    )
    return f"{rng.choice(PLACES)}{rng.choice(PROBLEMS)}{detail}"


def _timeline(
    events: list,
    case_id: int,
    state: str,
    created: datetime,
    clocks: dict,
    next_id: int,
    rng: random.Random | None = None,
) -> int:
    """Append the events that led a case to its state; return the next free event id.

    A resolved case's resolution carries the public reply; one case in twenty has an
    internal note."""
    rng = rng or random.Random(case_id)
    moments = {
        "accepted": clocks["responded_at"],
        "dispatched": clocks["responded_at"],
        "in_progress": clocks["responded_at"],
        "resolved": clocks["resolved_at"],
        "closed": clocks["closed_at"],
        "rejected": clocks["responded_at"],
        "merged": clocks["responded_at"],
    }
    previous = None
    for n, step in enumerate(("submitted", *PATH[state])):
        to_state = STEP_STATE.get(step, step)
        events.append(
            {
                "id": next_id,
                "case_id": case_id,
                "kind": step,
                "public": True,
                "from_state": previous,
                "to_state": to_state,
                "body": _reply(rng) if step == "resolved" else "",
                "data": {},
                "created_at": (moments.get(step) or created) + timedelta(seconds=n),
            }
        )
        previous, next_id = to_state, next_id + 1
    if rng.random() < 0.05:
        events.append(
            {
                "id": next_id,
                "case_id": case_id,
                "kind": "internal_note",
                "public": False,
                "from_state": None,
                "to_state": None,
                "body": rng.choice(NOTES).format(n=rng.randint(1, 9999)),
                "data": {},
                "created_at": created + timedelta(minutes=30),
            }
        )
        next_id += 1
    return next_id


def _reply(rng: random.Random) -> str:
    return rng.choice(REPLIES).format(
        dept=rng.choice(("市政", "环卫", "路灯所")), n=rng.randint(2, 7)
    )


def _clocks(rng: random.Random, state: str, created: datetime, now: datetime) -> dict:
    """Return deadlines, check times, answers and a rating fitting a state; some late."""
    respond_due, resolve_due = created + timedelta(hours=24), created + timedelta(days=5)
    clocks: dict = {
        "respond_due_at": respond_due,
        "resolve_due_at": resolve_due,
        "responded_at": None,
        "resolved_at": None,
        "closed_at": None,
        "rating": None,
        "respond_check_at": None,
        "resolve_check_at": None,
        "respond_warned_at": None,
        "resolve_warned_at": None,
        "respond_escalated_at": None,
        "resolve_escalated_at": None,
    }  # the same keys in every row, so that the rows insert as one batch
    if state != "submitted":
        clocks["responded_at"] = min(now, created + timedelta(hours=rng.uniform(0.2, 30)))
    if state in ("resolved", "closed"):
        clocks["resolved_at"] = min(now, created + timedelta(days=rng.uniform(0.5, 6.5)))
    if state == "closed":
        clocks["closed_at"] = min(now, clocks["resolved_at"] + timedelta(hours=2))
        if rng.random() < 0.6:
            clocks["rating"] = rng.choices(
                ["satisfied", "basically_satisfied", "dissatisfied"], [80, 15, 5]
            )[0]
    # What the SLA sweep has left behind: a clock past due was escalated, one still
    # running waits for its 75% reminder or its deadline.
    for clock, done in (("respond", "responded_at"), ("resolve", "resolved_at")):
        if clocks[done] is not None or state in ("rejected", "duplicate", "closed"):
            continue
        due = clocks[f"{clock}_due_at"]
        warn = due - (due - created) / 4
        if due <= now:
            clocks[f"{clock}_warned_at"] = clocks[f"{clock}_escalated_at"] = due
        elif warn <= now:
            clocks[f"{clock}_warned_at"], clocks[f"{clock}_check_at"] = warn, due
        else:
            clocks[f"{clock}_check_at"] = warn
    return clocks


def _shared_photos(rng: random.Random) -> list[tuple[str, int, int]]:
    """Store a few small photos once; every synthetic photo row points at one of them."""
    store = photos.PhotoStore(Path(current_app.config["UPLOAD_DIR"]))
    shared = []
    for n in range(SHARED_PHOTOS):
        image = Image.new("RGB", (640, 480), (90 + 30 * n, 90, 80 + rng.randint(0, 40)))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG")
        buffer.seek(0)
        photo = photos.process(buffer, max_bytes=10 * 1024 * 1024)
        store.write(photo)
        shared.append((photo.sha256, photo.width, photo.height))
    return shared
