"""The back-office queue with filters, beside the same page fetched by raw SQL.

The portal side is the queue page as a signed-in dispatcher gets it (filters, the page of
cases with their category and department, the total the page shows, the rendered HTML).
The reference is what the page needs from the database, written by hand: the page of rows
and the count of the filtered cases.
"""

from __future__ import annotations

import re

from sqlalchemy import select, text

from bench.harness import Run, compared, register, side_by_side
from portal.extensions import db
from portal.models import Category, Department, User, utcnow

PAGE = 25
NEXT_DUE = (
    "CASE WHEN c.state IN ('resolved', 'closed', 'rejected', 'duplicate') THEN NULL "
    "WHEN c.responded_at IS NULL THEN c.respond_due_at ELSE c.resolve_due_at END"
)
# name: (query string, WHERE clause of the raw SQL, page)
SCENARIOS = {
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
    "queue search": (
        "state=&q=井盖",
        "(c.number LIKE :q ESCAPE '\\' OR c.description LIKE :q ESCAPE '\\' "
        "OR c.address LIKE :q ESCAPE '\\')",
        1,
    ),
}
RAW = (
    "SELECT c.number, c.state, c.priority, c.major_hazard, c.paused_at, c.respond_due_at, "
    "c.responded_at, c.resolve_due_at, k.name_zh, k.name_en, d.name_zh, d.name_en "
    "FROM cases c JOIN category k ON k.id = c.category_id "
    "LEFT JOIN department d ON d.id = c.department_id WHERE {where} "
    "ORDER BY ({due}) IS NULL, {due}, c.created_at LIMIT {page} OFFSET {offset}"
)
COUNT = "SELECT count(*) FROM cases c WHERE {where}"
NUMBERS = re.compile(r'name="numbers" value="([^"]+)"')


def dispatcher() -> User:
    """Return the benchmark's dispatcher account, creating it once."""
    email = "bench-dispatcher@example.cn"
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name="Bench dispatcher", role="dispatcher")
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
            session["_user_id"], session["_fresh"] = str(dispatcher().id), True
        department = db.session.scalars(select(Department).order_by(Department.id)).first()
        category = db.session.scalars(select(Category).order_by(Category.id)).first()
        sqlite = db.engine.dialect.name == "sqlite"
        now = utcnow()
        params = {
            "department_id": department.id,
            "category_id": category.id,
            "q": "%井盖%",
            "now": now.replace(tzinfo=None) if sqlite else now,
        }
        for name, (query, where, page) in SCENARIOS.items():
            path = "/admin/?" + query.format(department=department.code, category=category.code)
            where = where.format(due=NEXT_DUE)
            if not sqlite:  # the portal's ilike: LIKE is case-sensitive on PostgreSQL
                where = where.replace(" LIKE ", " ILIKE ")
            rows = text(RAW.format(where=where, due=NEXT_DUE, page=PAGE, offset=(page - 1) * PAGE))
            count = text(COUNT.format(where=where))

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
