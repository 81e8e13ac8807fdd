"""The back-office queue with filters, beside the same page fetched by raw SQL.

The portal side is the queue page as a signed-in dispatcher gets it (filters, the page of
cases with their category and department, the total the page shows, the rendered HTML).
The reference is what the page needs from the database, written by hand: the page of rows
and the count of the filtered cases.
"""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select, text

from bench.harness import Run, compared, register, side_by_side
from portal.extensions import db
from portal.models import Category, Department, User, utcnow
from portal.services import two_factor

PAGE = 25
# The next deadline is a generated column under the queues' indexes: the reference reads
# the page in index order, as the portal does (before, both sorted every filtered case).
NEXT_DUE = "c.next_due_at"
# name: (query string, WHERE clause of the raw SQL, page)
SCENARIOS = {
    # A dispatcher's first screen: everything waiting for a dispatcher (the "todo" view).
    "queue first screen": (
        "",
        "(c.state IN ('submitted', 'accepted', 'resolved') OR c.extension_minutes IS NOT NULL)",
        1,
    ),
    "queue new": ("state=submitted", "c.state = 'submitted'", 1),
    "queue department overdue": (
        "state=in_progress&department={department}&overdue=1",
        "c.state = 'in_progress' AND c.department_id = :department_id AND ({due}) < :now",
        1,
    ),
    "queue category page 3": (
        "state=&category={category}&page=3",
        "c.category_id = :category_id",
        3,
    ),
}
RAW = (
    "SELECT c.number, c.state, c.priority, c.major_hazard, c.paused_at, c.respond_due_at, "
    "c.responded_at, c.resolve_due_at, k.name_zh, k.name_en, d.name_zh, d.name_en "
    "FROM cases c JOIN category k ON k.id = c.category_id "
    "LEFT JOIN department d ON d.id = c.department_id WHERE c.held = false AND {where} "
    "ORDER BY c.attention_at IS NULL, ({due}) IS NULL, {due}, c.created_at "
    "LIMIT {page} OFFSET {offset}"
)
# The queue counts its cases up to 1,000 ("more than 1,000"), as does the reference.
COUNT = (
    "SELECT count(*) FROM (SELECT 1 FROM cases c WHERE c.held = false AND {where} LIMIT 1001) AS n"
)
NUMBERS = re.compile(r'name="numbers" value="([^"]+)"')


def dispatcher() -> User:
    """Return the benchmark's dispatcher account, creating it once, enrolled in two-factor
    sign-in (a dispatcher without it is sent to enrol, not shown the queue)."""

    email = "bench-dispatcher@example.cn"
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name="Bench dispatcher", role="dispatcher")
        db.session.add(user)
        db.session.commit()
    if not two_factor.is_enabled(db.session, user):  # dispatchers must have a second factor
        row = two_factor.start_enrollment(db.session, user, utcnow())
        two_factor.confirm_enrollment(db.session, user, pyotp.TOTP(row.secret).now(), utcnow())
        db.session.commit()
    return user


def handler(department: Department) -> User:
    """Return the benchmark's handler account of a department, creating it once."""
    email = f"bench-handler-{department.code.lower()}@example.cn"
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name="Bench handler", role="handler", department=department)
        db.session.add(user)
        db.session.commit()
    return user


@register("queue", "the back-office queue with filters vs raw SQL", "≤ 2× raw SQL")
def run(run: Run) -> list[dict]:
    """Measure each filtered queue page against its raw SQL alternately."""
    app = run.app()
    results = []
    with app.app_context():
        client = app.test_client()
        with client.session_transaction() as session:
            user = dispatcher()  # the session holds "id:version" since sessions are versioned
            session["_user_id"] = f"{user.id}:{user.session_version or 0}"
            session["_fresh"] = True
        department = db.session.scalars(select(Department).order_by(Department.id)).first()
        category = db.session.scalars(select(Category).order_by(Category.id)).first()
        sqlite = db.engine.dialect.name == "sqlite"
        now = utcnow()
        params = {
            "department_id": department.id,
            "category_id": category.id,
            "now": now.replace(tzinfo=None) if sqlite else now,
        }
        for name, (query, where, page) in SCENARIOS.items():
            path = "/admin/?" + query.format(department=department.code, category=category.code)
            where = where.format(due=NEXT_DUE)
            rows = RAW.format(where=where, due=NEXT_DUE, page=PAGE, offset=(page - 1) * PAGE)
            count = COUNT.format(where=where)
            if sqlite:
                rows, count = rows.replace("= false", "= 0"), count.replace("= false", "= 0")
            rows, count = text(rows), text(count)

            def raw(rows=rows, count=count) -> tuple[list, int]:
                with db.engine.connect() as connection:
                    return connection.execute(rows, params).all(), connection.scalar(count, params)

            html = client.get(path).get_data(as_text=True)
            page_rows, total = raw()
            shown = NUMBERS.findall(html)
            assert shown == [r[0] for r in page_rows], (name, shown[:3], page_rows[:3])
            portal, reference = side_by_side(lambda path=path: client.get(path), raw, run.rounds)
            results.append({**compared(name, run, portal, reference, 2.0), "total": total})
            print(f"   {name}: {total:,} cases found, page {page}", flush=True)
    return results
