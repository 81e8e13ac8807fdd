"""The public index of works: every project with its phase and notices, in pages."""

from __future__ import annotations

from datetime import timedelta

from portal.models import utcnow
from tests.factories import make_notice, make_project, make_user


def test_the_index_lists_projects_with_their_notices(client, db, reference):
    road = make_project(db.session, "W-0001", phase="construction", name="大关路道路提升工程")
    make_project(db.session, "W-0002", phase="approval", name="教场路积水点改造")
    author = make_user(db.session, role="admin")
    now = utcnow()
    make_notice(db.session, author, project=road, publish_at=now - timedelta(hours=1), now=now)
    make_notice(db.session, author, project=road)  # a draft: not counted
    page = client.get("/projects").get_data(as_text=True)
    assert "大关路道路提升工程" in page and "教场路积水点改造" in page
    assert 'href="/projects/W-0001"' in page
    assert "施工" in page and "1 条公告" in page and "暂无公告" in page
    # The navigation of every page links here.
    assert 'href="/projects"' in client.get("/").get_data(as_text=True)


def test_the_index_filters_by_phase_and_explains_an_unknown_one(client, db, reference):
    make_project(db.session, "W-0001", phase="construction", name="大关路道路提升工程")
    make_project(db.session, "W-0002", phase="approval", name="教场路积水点改造")
    only = client.get("/projects?phase=construction").get_data(as_text=True)
    assert "大关路道路提升工程" in only and "教场路积水点改造" not in only
    response = client.get("/projects?phase=demolition")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'aria-describedby="phase-error"' in page and "请从列表中选择阶段" in page
    assert "大关路道路提升工程" in page and "教场路积水点改造" in page


def test_the_index_pages(client, db, reference):
    for n in range(23):
        make_project(db.session, f"P-{n:04d}", name=f"工程 {n:02d}")
    first = client.get("/projects").get_data(as_text=True)
    second = client.get("/projects?page=2").get_data(as_text=True)
    assert "工程 00" in first and "工程 20" not in first and 'rel="next"' in first
    assert "工程 20" in second and "工程 22" in second and 'rel="prev"' in second
    assert client.get("/projects?page=abc").status_code == 200
    assert client.get("/projects?page=99999999999999999999").status_code == 200


def test_the_index_in_english(client, db, reference):
    make_project(db.session, "W-0001", phase="tender")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = client.get("/projects").get_data(as_text=True)
    assert "<h1>Works</h1>" in page and "Tender" in page and "No notices yet." in page
