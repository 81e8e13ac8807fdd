"""Text search and queue views at scale, beside their physical reference: the index lookup.

`search public` is `/cases?q=` as a resident gets it, `search queue` the back-office queue
searched by a dispatcher (internal notes too), each over the fifty queries of
`bench.data.SEARCH_QUERIES`. The reference is hand-written SQL doing the same lookup on the
same indexes as the portal (`case_search.SearchPage`): every match through the index,
unordered, with its tier, up to 1,001; if there are no more than 1,000, page 1 is ranked
from them and they are the total; if there are more, page 1 is read tier by tier of the
rank, the newest `search_index.WALK` cases checked first, the tier's index (its
candidates, sorted) when they hold fewer than page 1 still needs; then the page's rows by
id. The unindexed scan (`LIKE '%q%'` over every case, what the search was
before) is timed in the same run for a few queries and shown in the note. Target: p95 <
100 ms on PostgreSQL, < 200 ms on SQLite, and ≤ 2× the lookup.

`queue view ...` is page 1 of each saved queue view in its default order (next deadline),
each request in its own session as in production, against the same page read by raw SQL on
the same index. Target: p95 < 50 ms (the ratio is shown, not judged).
"""

from __future__ import annotations

import gc
import re
import statistics
from urllib.parse import urlencode

from sqlalchemy import bindparam, select, text

from bench.data import SEARCH_QUERIES
from bench.harness import Run, compared, percentile, register, side_by_side, timed
from bench.queue import dispatcher, handler
from portal.extensions import db
from portal.models import Department, utcnow
from portal.services import queues, search_index

LIST_PAGE, QUEUE_PAGE = 20, 25  # the public list's page, the queue's
SCANNED = 5  # queries timed with the unindexed scan too (seconds each at a million cases)
CASE_LINK = re.compile(r'href="/cases/(\d{4}-\d+)"')
QUEUE_NUMBERS = re.compile(r'name="numbers" value="([^"]+)"')
# Every row's link to its case: a handler's queue has no checkboxes.
CASE_NUMBERS = re.compile(r'href="/admin/cases/(\d{4}-\d+)"')
LIMITS_MS = {"postgresql": 100.0, "sqlite": 200.0}


def _contains(column: str, dialect: str) -> str:
    return f"strpos({column}, :q) > 0" if dialect == "postgresql" else f"instr({column}, :q) > 0"


# The lookup by hand as the portal reads it (`case_search.SearchPage`): every match up to
# 1,001 through the index (ranked here when there are no more than 1,000); else for
# each tier of the rank (number or address, then text, then note), the newest WALK cases
# with the exact test, up to what the page still needs; if they hold fewer, the tier's
# candidates from its index, sorted newest first. The number-and-address tier first counts
# its candidates (up to WALK) and skips the walk when there are fewer. Then the page's rows
# by id.
def _like(column: str) -> str:
    return f"{column} LIKE '%' || :q || '%'"


def _in_tier(tier: str, dialect: str, walk: bool) -> str:
    """The exact test of a tier: strpos()/instr() on the walk, LIKE on the candidates (so
    that the planners keep the date order on the one and the index on the other)."""
    test = (lambda c: _contains(c, dialect)) if walk else _like
    head, body, notes = (test(f"s.{c}") for c in ("head", "body", "notes"))
    return {
        "head": head,
        "body": f"{body} AND NOT {head}",
        "notes": f"{notes} AND NOT {head} AND NOT {body}",
    }[tier]


FTS_IDS = "SELECT rowid FROM {table} WHERE {table} MATCH :{key}"


def _tier_index(tier: str, dialect: str) -> str:
    """The candidates of a tier: the part of the WHERE clause that the index answers."""
    if dialect == "postgresql":
        terms = {"head": "case_search_bigrams(s.head)", "body": "s.public_terms"}
        column = terms.get(tier, "s.staff_terms")
        return f"{column} @@ plainto_tsquery('simple', :terms)"
    table = "case_search_fts_head" if tier == "head" else "case_search_fts"
    return f"s.case_id IN ({FTS_IDS.format(table=table, key=f'{tier}_fts')})"


def _matching(dialect: str, staff: bool) -> str:
    """Any tier (the total's condition): the index and the exact test, as the portal asks."""
    head, body, notes = (_contains(f"s.{c}", dialect) for c in ("head", "body", "notes"))
    if dialect == "postgresql":
        public = f"(s.public_terms @@ plainto_tsquery('simple', :terms) AND ({head} OR {body}))"
        if not staff:
            return public
        return f"({public} OR (s.staff_terms @@ plainto_tsquery('simple', :terms) AND {notes}))"
    found = f"({head} OR {body} OR {notes})" if staff else f"({head} OR {body})"
    return f"f.case_search_fts MATCH :fts AND {found}"  # f: FTS_JOIN


def _params(q: str, staff: bool) -> dict:
    parsed = search_index.parse(q)
    columns = "{public_terms staff_terms}" if staff else "public_terms"
    phrases = " AND ".join(f'"{t}"' for t in parsed.terms)
    return {
        "q": parsed.text,
        "terms": " ".join(parsed.terms),
        "fts": f"{columns} : ({phrases})",
        "head_fts": phrases,
        "body_fts": f"public_terms : ({phrases})",
        "notes_fts": f"staff_terms : ({phrases})",
    }


STAFF_ROWS = (
    "SELECT c.id, c.number, c.state, c.priority, c.next_due_at, k.name_zh, d.name_zh "
    "FROM cases c JOIN category k ON k.id = c.category_id "
    "LEFT JOIN department d ON d.id = c.department_id WHERE c.id IN :ids"
)
PUBLIC_ROWS = (
    "SELECT c.id, c.number, c.state, c.created_at, k.name_zh, z.name_zh "
    "FROM cases c JOIN category k ON k.id = c.category_id "
    "LEFT JOIN zone z ON z.id = c.zone_id WHERE c.id IN :ids"
)
TIER_IDS = (
    "SELECT c.id FROM cases c JOIN case_search s ON s.case_id = c.id WHERE {where} "
    "ORDER BY c.created_at DESC, c.id DESC LIMIT :wanted"
)
WALK_IDS = (
    "SELECT n.id FROM (SELECT c.id, c.created_at FROM cases c WHERE {visible} "
    "ORDER BY c.created_at DESC, c.id DESC LIMIT :walk) AS n "
    "JOIN case_search s ON s.case_id = n.id WHERE {where} "
    "ORDER BY n.created_at DESC, n.id DESC LIMIT :wanted"
)
# Every match up to the total's cap, unordered, with its tier: when there are no more, the
# page is ranked from them in memory and they are the total (the tiers are not read). For
# a text whose terms PostgreSQL's statistics find in COMMON_SHARE of the cases, first among
# the newest ids by the exact test alone ({where} without the index).
MATCHES = (
    "SELECT c.id, c.created_at, CASE WHEN {head} THEN 0 WHEN {body} THEN 1 ELSE 2 END "
    "FROM cases c JOIN case_search s ON s.case_id = c.id {fts} WHERE {where} LIMIT 1001"
)
# SQLite: the FTS5 table joined, so that its postings stream in rowid order up to the LIMIT
# (`IN (SELECT rowid ...)` lists them all first), as the portal reads it.
FTS_JOIN = "JOIN case_search_fts f ON f.rowid = s.case_id"
SHARES = (
    "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
    "WHERE tablename = 'case_search' AND attname = 'public_terms'"
)


def _sql(statement: str, dialect: str):
    return text(statement.replace("= false", "= 0") if dialect == "sqlite" else statement)


def _raw_search(dialect: str, staff: bool):
    """Return the raw lookup: a function of (connection, params) giving (page rows, total)."""
    visible = "c.held = false" if staff else "c.hidden = false AND c.held = false"
    tiers = ("head", "body", "notes") if staff else ("head", "body")
    walks = {
        t: _sql(WALK_IDS.format(visible=visible, where=_in_tier(t, dialect, walk=True)), dialect)
        for t in tiers
    }
    lookups = {
        t: _sql(
            TIER_IDS.format(
                where=f"{visible} AND {_tier_index(t, dialect)} AND {_in_tier(t, dialect, False)}"
            ),
            dialect,
        )
        for t in tiers
    }
    rows = _sql(STAFF_ROWS if staff else PUBLIC_ROWS, dialect).bindparams(
        bindparam("ids", expanding=True)
    )
    ranks = {"head": _like("s.head"), "body": _like("s.body")}
    fts = FTS_JOIN if dialect == "sqlite" else ""
    matches = _sql(
        MATCHES.format(**ranks, fts=fts, where=f"{visible} AND {_matching(dialect, staff)}"),
        dialect,
    )
    exact = " OR ".join(_contains(f"s.{t}", dialect) for t in tiers)
    newest_where = f"{visible} AND c.id > :floor AND s.case_id > :floor AND ({exact})"
    newest = _sql(MATCHES.format(**ranks, fts="", where=newest_where), dialect)
    page = QUEUE_PAGE if staff else LIST_PAGE
    shares: dict[str, float] = {}

    def lookup(connection, params: dict) -> tuple[list, int]:
        lowest = None
        found_all: list = []
        if dialect == "postgresql":  # as the portal: no parallel workers, no JIT for a page
            connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            connection.execute(text("SET LOCAL jit = off"))
            if not shares:  # read once, as the portal keeps them for minutes
                elements, freqs = connection.execute(text(SHARES)).one()
                shares.update(zip(elements, freqs, strict=False))
            terms = params["terms"].split()
            share = min(shares.get(t, 0.0) for t in terms)
            if share >= search_index.COMMON_SHARE:
                highest = connection.scalar(text("SELECT max(id) FROM cases"))
                if len(terms) > 1:  # its share among the newest ids, as the portal checks
                    floor = highest - search_index.SAMPLE
                    sample = connection.execute(newest, {**params, "floor": floor}).all()
                    share = len(sample) / search_index.SAMPLE
            if share >= search_index.COMMON_SHARE:
                lowest = highest - int(2 * 1001 / share)
                found_all = connection.execute(newest, {**params, "floor": lowest}).all()
        if len(found_all) <= 1000:
            lowest, found_all = None, connection.execute(matches, params).all()
        ids: list[int] = []
        if len(found_all) <= 1000:  # all of them: ranked here
            by_time = sorted(found_all, key=lambda m: (m[1], m[0]), reverse=True)
            ids = [m[0] for m in sorted(by_time, key=lambda m: m[2])[:page]]
        else:  # tier by tier, each walk as long as the matches read say it needs
            if lowest is None:
                lowest = connection.scalar(text("SELECT min(id) FROM cases")) - 1
            span = max(m[0] for m in found_all) - lowest
            for rank, tier in enumerate(tiers):
                if len(ids) >= page:
                    break
                wanted = {**params, "wanted": page - len(ids)}
                seen = sum(1 for m in found_all if m[2] == rank)
                walk = 2 * page * span // seen + 1 if seen else 0
                walk = walk if walk <= search_index.WALK else 0
                found = (
                    connection.scalars(walks[tier], {**wanted, "walk": walk}).all() if walk else []
                )
                if len(found) < wanted["wanted"]:
                    found = connection.scalars(lookups[tier], wanted).all()
                ids += found
        found = {r[0]: r for r in connection.execute(rows, {"ids": ids})} if ids else {}
        return [found[i][1:] for i in ids], len(found_all)

    return lookup


SCAN = (
    "SELECT count(*) FROM cases c WHERE c.hidden = false AND c.held = false AND "
    "(lower(c.number) LIKE :like OR lower(c.description) LIKE :like OR lower(c.address) LIKE :like)"
)


def _search_row(run: Run, name: str, staff: bool) -> list[dict]:
    app = run.app()
    gc.collect()  # as wsgi.py does once the app is built (since 2026-11-30, 4th pass)
    gc.freeze()
    with app.app_context():
        dialect = db.engine.dialect.name
        client = app.test_client()
        if staff:
            with client.session_transaction() as session:
                session["_user_id"], session["_fresh"] = dispatcher().get_id(), True
        lookup = _raw_search(dialect, staff)
        rounds = max(2, run.rounds // 5)
        portal, reference, totals = [], [], []
        for q in SEARCH_QUERIES:
            params = _params(q, staff)

            def raw(params=params) -> tuple[list, int]:
                with db.engine.connect() as connection:
                    return lookup(connection, params)

            path = "/admin/?" if staff else "/cases?"
            path += urlencode({"state": "", "q": q} if staff else {"q": q})
            html = client.get(path).get_data(as_text=True)
            page_rows, total = raw()
            shown = (QUEUE_NUMBERS if staff else CASE_LINK).findall(html)
            shown = list(dict.fromkeys(shown))
            assert shown == [r[0] for r in page_rows], (name, q, shown[:3], page_rows[:3])
            totals.append(total)
            mine, theirs = side_by_side(lambda path=path: client.get(path), raw, rounds)
            portal += mine
            reference += theirs
        scans = []
        scan = text(SCAN.replace("= false", "= 0") if dialect == "sqlite" else SCAN)
        for q in SEARCH_QUERIES[:SCANNED]:
            like = "%" + q.lower() + "%"
            with db.engine.connect() as connection:
                scans.append(timed(lambda c=connection, like=like: c.scalar(scan, {"like": like})))
        result = compared(name, run, portal, reference, 2.0)
        limit = LIMITS_MS[dialect]
        result["met"] = result["met"] and result["portal_p95_ms"] < limit
        scan_ms = statistics.median(scans) * 1000
        result["scan_p50_ms"] = scan_ms
        result["note"] = (
            f"{len(SEARCH_QUERIES)} queries × {rounds}; matches per query median "
            f"{statistics.median(totals):,.0f}, max {max(totals):,}; unindexed scan "
            f"p50 {scan_ms:,.0f} ms over {SCANNED} queries; target p95 < {limit:.0f} ms"
        )
        print(f"   {name}: {result['note']}", flush=True)
    return [result]


@register(
    "search public", "/cases?q= over 50 queries vs the index lookup", "p95 < 100/200 ms, ≤ 2×"
)
def search_public(run: Run) -> list[dict]:
    """Time the public list's search against the raw lookup on the same index."""
    return _search_row(run, "search public", staff=False)


@register("search queue", "queue ?q= over 50 queries vs the index lookup", "p95 < 100/200 ms, ≤ 2×")
def search_queue(run: Run) -> list[dict]:
    """Time the back-office queue's search against the raw lookup on the same index."""
    return _search_row(run, "search queue", staff=True)


# name: (saved view, WHERE clause of the raw SQL): every saved view of the queue
# (portal/services/queues.py), as a dispatcher opens it; "mine" as a department's handler.
OPEN = "('submitted', 'accepted', 'dispatched', 'in_progress', 'resolved')"
VIEWS = {
    "queue view todo": (
        "todo",
        "(c.state IN ('submitted', 'accepted', 'resolved') OR c.extension_minutes IS NOT NULL)",
    ),
    "queue view submitted": ("submitted", "c.state = 'submitted'"),
    "queue view to dispatch": ("to_dispatch", "c.state = 'accepted'"),
    "queue view in progress": (
        "in_progress",
        "c.state IN ('dispatched', 'in_progress') AND c.paused_at IS NULL",
    ),
    "queue view waiting": ("waiting", f"c.state IN {OPEN} AND c.paused_at IS NOT NULL"),
    "queue view to verify": ("to_verify", "c.state = 'resolved'"),
    "queue view due soon": (
        "due_soon",
        "c.paused_at IS NULL AND c.next_due_at IS NOT NULL AND c.next_due_at >= :now "
        "AND c.next_due_at < :soon",
    ),
    "queue view overdue": (
        "overdue",
        "c.paused_at IS NULL AND c.next_due_at < :now",
    ),
    "queue view mine": (
        "mine",
        f"c.department_id = :department_id AND c.assignee_id = :user_id AND c.state IN {OPEN}",
    ),
    "queue view reopened": (
        "reopened",
        "c.cycle > 1 AND c.state IN ('accepted', 'dispatched', 'in_progress')",
    ),
    "queue view extensions": (
        "extensions",
        "c.extension_minutes IS NOT NULL AND c.state IN ('dispatched', 'in_progress')",
    ),
}
RAW_VIEW = (
    "SELECT c.number, c.state, c.priority, c.major_hazard, c.paused_at, c.respond_due_at, "
    "c.responded_at, c.resolve_due_at, k.name_zh, k.name_en, d.name_zh, d.name_en "
    "FROM cases c JOIN category k ON k.id = c.category_id "
    "LEFT JOIN department d ON d.id = c.department_id WHERE c.held = false AND {where} "
    "ORDER BY c.attention_at IS NULL, c.next_due_at IS NULL, c.next_due_at, c.created_at "
    "LIMIT 25"
)
# The queue counts its cases up to 1,000 ("more than 1,000"), as does the reference.
COUNT_VIEW = (
    "SELECT count(*) FROM (SELECT 1 FROM cases c WHERE c.held = false AND {where} LIMIT 1001) AS n"
)


def _signed_in(app, user):
    """Return a test client signed in as a user (the session holds "id:version")."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{user.id}:{user.session_version or 0}"
        session["_fresh"] = True
    return client


@register(
    "queue views", "page 1 of each saved queue view vs raw SQL on the same index", "p95 < 50 ms"
)
def queue_views(run: Run) -> list[dict]:
    """Time page 1 of each saved queue view in its default order against raw SQL.

    Each request runs in its own application context, with its own database session, as
    in production (inside one context, every request would share one session and find
    the user, the categories and the departments already loaded). What start-up built is
    frozen out of the garbage collector's passes, as wsgi.py does."""
    app = run.app()
    gc.collect()  # as wsgi.py does once the app is built
    gc.freeze()
    with app.app_context():
        department = db.session.scalars(select(Department).order_by(Department.id)).first()
        worker = handler(department)
        clients = {"dispatcher": _signed_in(app, dispatcher()), "handler": _signed_in(app, worker)}
        engine, department_id, worker_id = db.engine, department.id, worker.id
    sqlite = engine.dialect.name == "sqlite"
    now = utcnow()
    params = {
        "department_id": department_id,
        "user_id": worker_id,
        "now": now.replace(tzinfo=None) if sqlite else now,
        "soon": (now + queues.DUE_SOON).replace(tzinfo=None) if sqlite else now + queues.DUE_SOON,
    }
    results = []
    for name, (view, where) in VIEWS.items():
        client = clients["handler" if view == "mine" else "dispatcher"]
        path = f"/admin/?view={view}"
        if view == "mine":  # a handler's queue holds the department's cases only
            where = f"{where} AND c.department_id = :department_id"
        rows, count = RAW_VIEW.format(where=where), COUNT_VIEW.format(where=where)
        if sqlite:
            rows, count = rows.replace("= false", "= 0"), count.replace("= false", "= 0")
        rows, count = text(rows), text(count)

        def raw(rows=rows, count=count) -> tuple[list, int]:
            with engine.connect() as connection:
                return connection.execute(rows, params).all(), connection.scalar(count, params)

        html = client.get(path).get_data(as_text=True)
        page_rows, total = raw()
        shown = CASE_NUMBERS.findall(html)
        assert shown == [r[0] for r in page_rows], (name, shown[:3], page_rows[:3])
        portal, reference = side_by_side(
            lambda client=client, path=path: client.get(path), raw, run.rounds
        )
        result = compared(name, run, portal, reference, 2.0)
        # The target for a queue page is its p95 alone; the ratio to the raw page
        # (a fraction of a millisecond) is shown, not judged.
        result["met"] = percentile(portal, 0.95) * 1000 < 50
        result["note"] = f"{total:,} cases in the view; target p95 < 50 ms"
        results.append(result)
        print(f"   {name}: {total:,} cases", flush=True)
    return results
