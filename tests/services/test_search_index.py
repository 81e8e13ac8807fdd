"""The text search index: Chinese bigrams, kept in the writing transaction, never missing a
case that a substring scan finds (checked over 100,000 cases), bad queries answered."""

from __future__ import annotations

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, insert, literal_column, select, text, update

from bench.data import SEARCH_QUERIES, STREETS, _reply, describe
from portal.models import Case, CaseEvent, CaseSearch, Category, utcnow
from portal.services import case_search, search_index, workflow
from portal.services.case_search import CaseFilters, QueueFilters
from tests.factories import make_case, make_user

TZ = ZoneInfo("Asia/Shanghai")


def public_numbers(db, q: str) -> list[str]:
    query = case_search.filtered(CaseFilters(q=q), TZ)
    return [c.number for c in db.session.scalars(query).unique()]


def staff_numbers(db, user, q: str) -> list[str]:
    query = case_search.queue_filtered(select(Case), user, QueueFilters(q=q), utcnow(), TZ)
    return [c.number for c in db.session.scalars(query)]


def test_terms_are_character_bigrams_of_letter_and_digit_runs():
    assert search_index.terms("井盖缺失") == ["井盖", "盖缺", "缺失"]
    assert search_index.terms("K12+300") == ["k1", "12", "30", "00"]
    assert search_index.terms("3号井。") == ["3号", "号井"]
    assert search_index.terms("的，了") == []


@pytest.mark.parametrize("q", ["井", "的", "，，", "!" * 100, "。" * 100, '"', "*", "(:)"])
def test_a_query_the_index_cannot_answer_finds_nothing(db, reference, q):
    make_case(db.session, description=f"路口井盖缺失{q}")
    assert not search_index.parse(q).usable
    assert public_numbers(db, q) == []


@pytest.mark.parametrize("q", ["NEAR", "OR", "ab*", '"or"', "NEAR(ab", "{xy}:yz"])
def test_fts_words_and_signs_are_searched_as_text(db, reference, q):
    case, _ = make_case(db.session, description=f"路口井盖缺失 {q} 之后")
    make_case(db.session, description="路口井盖缺失", position=(30.2745, 120.1555))
    assert search_index.parse(q).usable
    assert public_numbers(db, q) == [case.number]


@pytest.mark.parametrize(
    "q", ['"井盖" OR', "井盖*", "NEAR(井盖 缺失)", "井盖 AND 缺失", "{body}:井盖", "'; --"]
)
def test_fts_syntax_is_text_not_syntax(db, reference, q):
    make_case(db.session, description="路口井盖缺失")
    assert public_numbers(db, q) == []  # no case holds these characters in a row


def test_two_character_words_numbers_and_mixed_terms_are_found(db, reference):
    manhole, _ = make_case(db.session, description="小区门口3号井的井盖缺失，位于K12+300附近。")
    lamp, _ = make_case(db.session, description="路灯不亮已经三天了。", address="文三路88号")
    water, _ = make_case(db.session, description="暴雨后路口积水严重。")
    assert public_numbers(db, "井盖") == [manhole.number]
    assert public_numbers(db, "积水") == [water.number]
    assert public_numbers(db, "路灯") == [lamp.number]
    assert public_numbers(db, "3号井") == [manhole.number]
    assert public_numbers(db, "K12+300") == [manhole.number]
    assert public_numbers(db, "k12+300") == [manhole.number]  # case does not matter
    assert public_numbers(db, "K12+30") == [manhole.number]
    assert public_numbers(db, "K12 300") == []  # a substring, not words in any order
    assert public_numbers(db, "文三路88") == [lamp.number]
    assert public_numbers(db, lamp.number) == [lamp.number]
    assert public_numbers(db, lamp.number[-6:]) == [lamp.number]


def test_ranked_by_where_it_matched_then_newest_first(db, reference):
    now = utcnow()
    old_address, _ = make_case(
        db.session, description="有坑", address="井盖路1号", now=now - timedelta(days=3)
    )
    new_text, _ = make_case(db.session, description="井盖缺失", now=now - timedelta(days=1))
    old_text, _ = make_case(db.session, description="井盖松动", now=now - timedelta(days=2))
    expected = [old_address.number, new_text.number, old_text.number]
    assert public_numbers(db, "井盖") == expected
    staff = make_user(db.session, "dispatcher")
    assert staff_numbers(db, staff, "井盖") == expected


def test_replies_notes_and_redactions_show_at_once(db, reference):
    staff = make_user(db.session, "dispatcher")
    case, _ = make_case(db.session, description="护栏被撞弯")
    workflow.reply(db.session, case, staff, "已通知养护单位维修", utcnow())
    workflow.note(db.session, case, staff, "联系人电话勿外传", utcnow())
    db.session.flush()  # not committed: the index is written in the same transaction
    assert public_numbers(db, "养护单位") == [case.number]
    assert public_numbers(db, "勿外传") == []  # internal notes: staff only
    assert staff_numbers(db, staff, "勿外传") == [case.number]
    assert staff_numbers(db, staff, "养护单位") == [case.number]
    case.description = "护栏损坏（已删去个人信息）"
    db.session.flush()
    assert public_numbers(db, "撞弯") == []
    assert public_numbers(db, "个人信息") == [case.number]
    db.session.rollback()  # and a rolled-back write leaves no trace in the index
    assert public_numbers(db, "养护单位") == []
    assert public_numbers(db, "撞弯") == [case.number]


def test_a_handler_searches_notes_of_their_department_only(db, reference):
    road = make_user(db.session, "dispatcher")
    case, _ = make_case(db.session, description="雨水篦子堵塞")
    workflow.note(db.session, case, road, "先联系排水公司", utcnow())
    db.session.commit()
    from portal.models import Department

    departments = db.session.scalars(select(Department).order_by(Department.id)).all()
    case.department = departments[0]
    db.session.commit()
    drain = make_user(db.session, "handler", department=departments[1])
    assert staff_numbers(db, drain, "排水公司") == []


def test_reindex_rebuilds_rows_of_bulk_inserted_cases(db, reference, runner):
    case, _ = make_case(db.session, description="窨井冒水")
    db.session.execute(update(Case).where(Case.id == case.id).values(description="水管爆裂"))
    db.session.commit()  # a bulk update passes the ORM: the index still says 窨井
    assert public_numbers(db, "窨井") == [case.number]
    result = runner.invoke(args=["search", "reindex", "--batch", "1"])
    assert result.exit_code == 0, result.output
    assert "1 / 1 cases indexed" in result.output
    assert public_numbers(db, "窨井") == []
    assert public_numbers(db, "水管") == [case.number]


def _fts_triggers(db) -> list[str]:
    triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'case_search_%'"
    return sorted(db.session.scalars(text(triggers)))


def test_a_bulk_reindex_gives_the_index_the_rows_would_and_keeps_the_triggers(db, reference):
    kept, _ = make_case(db.session, description="路灯不亮")
    lost = [make_case(db.session, description=f"{i}号井盖松动")[0] for i in range(3)]
    db.session.commit()
    sqlite = db.engine.dialect.name == "sqlite"
    triggers = _fts_triggers(db) if sqlite else []
    ids = [c.id for c in lost]
    db.session.execute(delete(CaseSearch).where(CaseSearch.case_id.in_(ids)))
    db.session.commit()  # as after bulk inserts that passed the ORM's hook
    assert public_numbers(db, "井盖") == []
    connection = db.session.connection()
    assert search_index.reindex_in_bulk(connection, only_missing=True) == 3
    db.session.commit()
    assert sorted(public_numbers(db, "井盖")) == sorted(c.number for c in lost)
    assert public_numbers(db, "路灯") == [kept.number]
    if sqlite:  # the FTS5 table agrees with its content, and keeps itself again
        check = "INSERT INTO case_search_fts(case_search_fts) VALUES ('integrity-check')"
        db.session.execute(text(check))
        assert _fts_triggers(db) == triggers
        staff = make_user(db.session, "dispatcher")
        workflow.reply(db.session, kept, staff, "已更换灯泡", utcnow())
        db.session.commit()
        assert public_numbers(db, "灯泡") == [kept.number]


def test_a_bulk_reindex_that_fails_changes_nothing(db, reference, monkeypatch):
    sqlite = db.engine.dialect.name == "sqlite"
    triggers = _fts_triggers(db) if sqlite else []
    case, _ = make_case(db.session, description="积水")
    db.session.commit()

    def fails(*args, **kwargs):
        raise RuntimeError("stopped midway")

    monkeypatch.setattr(search_index, "reindex", fails)
    with pytest.raises(RuntimeError):
        search_index.reindex_in_bulk(db.session.connection())
    db.session.rollback()
    assert public_numbers(db, "积水") == [case.number]
    if sqlite:  # the triggers it had dropped came back with the rollback
        assert _fts_triggers(db) == triggers


def test_reindex_in_bulk_from_the_command_line(db, reference, runner):
    case, _ = make_case(db.session, description="窨井冒水")
    db.session.execute(update(Case).where(Case.id == case.id).values(description="水管爆裂"))
    db.session.commit()
    result = runner.invoke(args=["search", "reindex", "--bulk"])
    assert result.exit_code == 0, result.output
    assert "Done: 1 cases indexed." in result.output
    assert public_numbers(db, "窨井") == []
    assert public_numbers(db, "水管") == [case.number]


RECALL_CASES = 100_000


def test_search_finds_what_a_substring_scan_finds_over_100000_cases(db, reference):
    """Recall (and precision) of the 50 bench queries against a plain scan of every case."""
    rng = random.Random(18)
    category_id = db.session.scalar(select(Category.id).order_by(Category.id))
    now, year = utcnow(), utcnow().year
    rows, replies, texts = [], [], {}
    for n in range(1, RECALL_CASES + 1):
        number = f"{year}-{n:07d}"
        address = f"{rng.choice(STREETS)}{rng.randint(1, 400)}号"
        description, hidden = describe(rng), rng.random() < 0.02
        rows.append(
            {
                "id": n,
                "number": number,
                "category_id": category_id,
                "lat": 30.27,
                "lng": 120.15,
                "address": address,
                "description": description,
                "hidden": hidden,
                "tracking_token_hash": f"{n:064d}",
                "created_at": now - timedelta(minutes=n),
                "updated_at": now,
            }
        )
        reply = _reply(rng) if rng.random() < 0.3 else ""
        if reply:
            replies.append({"case_id": n, "kind": "public_reply", "body": reply, "data": {}})
        if not hidden:
            texts[number] = "\n".join((number, address, description, reply)).lower()
    for start in range(0, len(rows), 10_000):
        db.session.execute(insert(Case), rows[start : start + 10_000])
    db.session.execute(insert(CaseEvent), replies)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(func.setval("cases_id_seq", RECALL_CASES)))
    # In bulk: on SQLite the FTS5 table is built once (seconds, not minutes, in CI).
    assert search_index.reindex_in_bulk(db.session.connection()) == RECALL_CASES
    db.session.commit()
    assert len(SEARCH_QUERIES) == 50
    for q in SEARCH_QUERIES:
        needle = q.lower()
        expected = {number for number, text in texts.items() if needle in text}
        query = case_search.public_filtered(select(Case.number), CaseFilters(q=q), TZ)
        found = db.session.scalars(query).all()
        assert len(found) == len(set(found)), q
        assert set(found) == expected, (q, len(found), len(expected))


def _ranked(db, q: str, *, staff: bool, user=None) -> list[str]:
    """Every match in rank order, by the one ranked query (what the exports read)."""
    if staff:
        return staff_numbers(db, user, q)
    return public_numbers(db, q)


def _paged(db, q: str, *, staff: bool, user=None, per_page: int = 4) -> tuple[list[str], int]:
    """Every match as the pages list them, page after page; and the first page's total."""
    if staff:
        unsearched = case_search.queue_filtered(select(Case), user, QueueFilters(), utcnow(), TZ)
    else:
        unsearched = case_search.filtered(CaseFilters(), TZ)
    shown, number, total = [], 1, None
    while True:
        page = case_search.SearchPage(unsearched, q, staff=staff, page=number, per_page=per_page)
        total = page.total if total is None else total
        shown += [c.number for c in page.items]
        if not page.items:
            return shown, total
        number += 1


@pytest.mark.parametrize(
    ("walk", "cap", "common"),
    [(1, 3, False), (10**6, 3, False), (1, 1000, False), (10**6, 3, True), (10**6, 1000, True)],
    ids=["by candidates", "newest first", "all at once", "common", "common, all at once"],
)
def test_pages_list_every_match_in_rank_order_tier_by_tier(
    db, reference, monkeypatch, walk, cap, common
):
    """Whether the matches are ranked at once (no more than the total's cap) or a tier is found
    among the newest cases or through its candidates (more), and whether the matches are first
    read among the newest ids (a text the statistics call common) or through the index, the
    pages list what the ranked query lists, in its order (ties on the time broken by the id),
    only that."""
    monkeypatch.setattr(search_index, "WALK", walk)
    monkeypatch.setattr(case_search, "COUNT_CAP", cap)
    if common:
        monkeypatch.setattr(search_index, "estimated_share", lambda connection, query: 1.0)
    rng = random.Random(7)
    category_id = db.session.scalar(select(Category.id).order_by(Category.id))
    now, rows, notes = utcnow(), [], []
    for n in range(1, 61):
        rows.append(
            {
                "id": n,
                "number": f"{now.year}-{n:07d}",
                "category_id": category_id,
                "lat": 30.27,
                "lng": 120.15,
                "address": rng.choice(["井盖路1号", "文三路2号", "学院路3号"]),
                "description": rng.choice(["井盖缺失", "路灯不亮", "井 盖", "盖井"]),
                "hidden": rng.random() < 0.1,
                "tracking_token_hash": f"{n:064d}",
                "created_at": now - timedelta(minutes=n // 3),  # threes share their time
                "updated_at": now,
            }
        )
        if rng.random() < 0.3:
            body = rng.choice(["井盖已更换", "待查"])
            notes.append({"case_id": n, "kind": "internal_note", "body": body, "public": False})
    db.session.execute(insert(Case), rows)
    db.session.execute(insert(CaseEvent), [{**note, "data": {}} for note in notes])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(func.setval("cases_id_seq", 60)))
    search_index.reindex(db.session.connection())
    db.session.commit()
    staff = make_user(db.session, "dispatcher")
    for q in ("井盖", "文三路", "盖井", "已更换", "路", "2号"):
        for searcher in (None, staff):
            expected = _ranked(db, q, staff=bool(searcher), user=searcher)
            shown, total = _paged(db, q, staff=bool(searcher), user=searcher)
            assert shown == expected, (q, bool(searcher))
            counted = max(cap, 4) + 1  # page 1 of 4 counts up to its cap, past the page
            assert total == (len(expected) if len(expected) < counted else counted - 1)
    assert _paged(db, "井盖", staff=False)[0]  # the data holds matches in every tier
    assert len({n for n in _ranked(db, "井盖", staff=True, user=staff)}) > 20


def test_the_head_terms_of_postgresql_are_the_terms_of_python(db, reference):
    """The index of numbers and addresses computes its terms in SQL: the same as terms()."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's function; SQLite's head terms are written by terms()")
    simple = literal_column("'simple'::regconfig")
    values = ("2026-0000123\n文三路88号", "k12+300 井盖", "à la ÉCOLE 3号井", "", "的，了", "ａｂ")
    for value in map(search_index.normalize, values):
        in_sql = db.session.scalar(select(func.strip(func.case_search_bigrams(value))))
        expected = db.session.scalar(  # the same terms (their positions do not matter)
            select(func.strip(func.to_tsvector(simple, " ".join(search_index.terms(value)))))
        )
        assert in_sql == expected, value


def test_the_share_of_a_common_text_comes_from_the_statistics(db, reference, monkeypatch):
    """PostgreSQL's statistics of the terms tell how common a text may be (its rarest term's
    share); a term they do not list counts as rare, and SQLite keeps no such statistics."""
    monkeypatch.setattr(search_index, "_shares", {})  # read afresh, after this ANALYZE
    for n in range(12):
        description = "路口井盖缺失" if n % 3 else "路灯不亮"
        make_case(db.session, description=description, position=(30.27 + n / 1000, 120.15))
    db.session.commit()
    connection = db.session.connection()
    share = search_index.estimated_share
    if db.engine.dialect.name != "postgresql":
        assert share(connection, search_index.parse("井盖")) == 0.0
        return
    connection.exec_driver_sql("ANALYZE case_search")
    assert 0.5 < share(connection, search_index.parse("井盖")) <= 1.0
    assert (
        share(connection, search_index.parse("井盖缺失"))
        >= share(connection, search_index.parse("井盖")) - 0.01
    )  # every term of it in the same cases
    assert share(connection, search_index.parse("门牌")) == 0.0
