"""The public reads notices: list, filters, a notice, withdrawn ones, Atom feeds, projects."""

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import Zone, utcnow
from portal.services import notices
from portal.services.photos import PhotoStore
from tests.factories import jpeg_photo, make_case, make_notice, make_project, make_user

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def author(db, reference):
    return make_user(db.session, "dispatcher")


@pytest.fixture
def project(db, reference):
    return make_project(
        db.session, "GS-2026-01", phase="construction", name="湖墅南路雨污分流改造工程"
    )


def atom(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)  # noqa: S314 - our own feed, parsed back
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{required}").text
    entries = feed.findall(f"{ATOM}entry")
    for entry in entries:
        for required in ("id", "title", "updated", "published"):
            assert entry.find(f"{ATOM}{required}").text, required
        datetime.fromisoformat(entry.find(f"{ATOM}updated").text)
        links = [
            x for x in entry.findall(f"{ATOM}link") if x.get("rel", "alternate") == "alternate"
        ]
        assert len(links) == 1 and links[0].get("href").startswith("http")
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(ids) == len(set(ids))
    return feed, entries


def test_the_list_shows_published_and_withdrawn_notices_not_drafts(client, db, author, project):
    now = utcnow()
    shown = make_notice(
        db.session,
        author,
        title="第一阶段进展",
        project=project,
        publish_at=now - timedelta(days=3),
    )
    gone = make_notice(
        db.session, author, title="封路通告", kind="traffic", publish_at=now - timedelta(days=2)
    )
    notices.withdraw(db.session, author, gone, "封闭时段有误，已重新发布。", now)
    make_notice(db.session, author, title="尚未发布的草稿")
    later = make_notice(db.session, author, title="下周的定时公告")
    notices.publish(db.session, author, later, now, at=now + timedelta(days=7))
    db.session.commit()
    page = client.get("/notices").get_data(as_text=True)
    assert shown.title in page and gone.title in page and "已撤回" in page
    assert "尚未发布的草稿" not in page and "下周的定时公告" not in page
    assert "共 2 条公告" in page
    assert '<link rel="alternate" type="application/atom+xml"' in page
    assert 'href="/notices"' in page  # the header's link


def test_a_draft_or_scheduled_notice_is_not_found_until_its_time(client, db, author):
    now = utcnow()
    draft = make_notice(db.session, author)
    assert client.get(f"/notices/{draft.id}").status_code == 404
    notices.publish(db.session, author, draft, now, at=now + timedelta(seconds=2))
    db.session.commit()
    assert client.get(f"/notices/{draft.id}").status_code == 404
    _, entries = atom(client, "/notices.atom")
    assert entries == []
    draft.publish_at = now - timedelta(seconds=1)  # the moment has come
    db.session.commit()
    assert client.get(f"/notices/{draft.id}").status_code == 200
    _, entries = atom(client, "/notices.atom")
    assert [e.find(f"{ATOM}title").text for e in entries] == [draft.title]


def test_a_withdrawn_notice_keeps_its_page_with_the_reason_and_date(client, db, author):
    # A fixed withdrawal time (the page shows it), published five days before it.
    when = datetime.fromisoformat("2026-11-20T04:30:00+00:00")
    notice = make_notice(
        db.session, author, title="登云路桥夜间封闭通告", publish_at=when - timedelta(days=5)
    )
    notices.withdraw(db.session, author, notice, "封闭时段有误，以更正通告为准。", when)
    db.session.commit()
    response = client.get(f"/notices/{notice.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and notice.title in page
    assert "本公告已于 2026-11-20 12:30 撤回" in page  # Beijing time
    assert "封闭时段有误，以更正通告为准。" in page
    _, entries = atom(client, "/notices.atom")
    assert entries[0].find(f"{ATOM}title").text == "【已撤回】登云路桥夜间封闭通告"
    content = entries[0].find(f"{ATOM}content").text
    assert '<p class="withdrawn-note" role="note"><strong>本公告已于 2026-11-20 12:30' in content
    assert "封闭时段有误" in content and "<strong>120 米</strong>" in content
    assert entries[0].find(f"{ATOM}updated").text.startswith("2026-11-20T04:30:00")


def test_the_notice_page_renders_markdown_safely(client, db, author, project):
    case, _ = make_case(db.session)
    notice = make_notice(
        db.session,
        author,
        project=project,
        case_numbers=(case.number,),
        body="## 完成情况\n\n- 管道 **860 米**\n\n<script>alert(1)</script>"
        "\n\n[恶意](javascript:alert(1))",
        publish_at=utcnow() - timedelta(hours=1),
    )
    page = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "<h2>完成情况</h2>" in page and "<strong>860 米</strong>" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert 'href="javascript' not in page
    assert f'href="/cases/{case.number}"' in page and f'href="/projects/{project.code}"' in page
    assert 'href="/projects/GS-2026-01/notices.atom"' in page


def test_filters_search_and_paging(client, db, author, project):
    now = utcnow()
    other = make_project(
        db.session, "GS-2026-03", geometry={"type": "Point", "coordinates": [120.1400, 30.2800]}
    )
    for n in range(22):
        make_notice(
            db.session,
            author,
            title=f"湖墅南路第{n + 1}期进展",
            project=project,
            publish_at=now - timedelta(days=30 - n),
        )
    make_notice(
        db.session,
        author,
        title="小河路人行道完工",
        kind="completion",
        project=other,
        body="东侧人行道已恢复通行。",
        publish_at=now - timedelta(hours=1),
    )
    first = client.get("/notices").get_data(as_text=True)
    assert "共 23 条公告" in first and "小河路人行道完工" in first
    assert 'rel="next" href="/notices?page=2"' in first
    second = client.get("/notices?page=2").get_data(as_text=True)
    assert "湖墅南路第1期进展" in second and "湖墅南路第1期进展" not in first
    assert "共 1 条公告" in client.get("/notices?kind=completion").get_data(as_text=True)
    assert "共 22 条公告" in client.get(f"/notices?project={project.code}").get_data(as_text=True)
    searched = client.get("/notices?q=东侧人行道").get_data(as_text=True)
    assert "共 1 条公告" in searched and "小河路人行道完工" in searched
    street = db.session.scalar(select(Zone).where(Zone.code == "GS-MS"))
    in_zone = client.get(f"/notices?zone={street.code}").get_data(as_text=True)
    assert "共 22 条公告" in in_zone and "小河路人行道完工" not in in_zone
    assert "共 0 条公告" in client.get("/notices?kind=nonsense&q=无此内容").get_data(as_text=True)


def test_the_feeds_list_exactly_the_public_notices(client, db, author, project):
    now = utcnow()
    a = make_notice(
        db.session, author, title="第一期", project=project, publish_at=now - timedelta(days=2)
    )
    b = make_notice(db.session, author, title="无关工程的通告", publish_at=now - timedelta(days=1))
    make_notice(db.session, author, title="草稿", project=project)
    later = make_notice(db.session, author, title="定时", project=project)
    notices.publish(db.session, author, later, now, at=now + timedelta(days=1))
    db.session.commit()
    feed, entries = atom(client, "/notices.atom")
    site = client.application.config["PUBLIC_URL"]  # links name the site, not the Host
    assert [e.find(f"{ATOM}title").text for e in entries] == [b.title, a.title]
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == f"{site}/notices.atom"
    assert feed.find(f"{ATOM}updated").text == b.publish_at.isoformat()
    assert entries[1].find(f"{ATOM}id").text == f"{site}/notices/{a.id}"
    assert entries[1].find(f"{ATOM}category").get("term") == "progress"
    assert "<strong>120 米</strong>" in entries[1].find(f"{ATOM}content").text
    _, entries = atom(client, f"/projects/{project.code}/notices.atom")
    assert [e.find(f"{ATOM}title").text for e in entries] == [a.title]
    empty, entries = atom(
        client, f"/projects/{make_project(db.session, 'GS-2027-09').code}/notices.atom"
    )
    assert entries == [] and empty.find(f"{ATOM}updated").text
    assert client.get("/projects/NOPE/notices.atom").status_code == 404


def test_the_project_page_shows_notices_and_related_cases_on_the_map(client, db, author, project):
    now = utcnow()
    named, _ = make_case(db.session, position=(30.2800, 120.1400))
    notice = make_notice(
        db.session,
        author,
        title="施工进展",
        project=project,
        case_numbers=(named.number,),
        publish_at=now - timedelta(days=1),
    )
    make_notice(db.session, author, title="还没发布", project=project)
    page = client.get(f"/projects/{project.code}").get_data(as_text=True)
    assert "<dd>施工</dd>" in page and "计划工期" in page
    assert f'href="/notices/{notice.id}"' in page and "还没发布" not in page
    assert f"/cases/{named.number}" in page and "data-cases=" in page
    assert "30.28" in page.split("data-cases=")[1].split("data-tile-url")[0]
    assert 'type="application/atom+xml"' in page


def test_the_cover_photo_is_served_only_once_public(app, client, db, author):
    store = PhotoStore(app.config["UPLOAD_DIR"])
    draft = notices.NoticeDraft("完工公告", "道路已恢复通行。", "completion", cover=jpeg_photo())
    notice = notices.save(db.session, author, notices.Notice(), draft, store, utcnow())
    db.session.commit()
    assert client.get(f"/notices/{notice.id}/cover.jpg").status_code == 404
    notices.publish(db.session, author, notice, utcnow())
    db.session.commit()
    response = client.get(f"/notices/{notice.id}/cover.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    response.close()
    assert f'src="/notices/{notice.id}/cover.jpg"' in client.get(f"/notices/{notice.id}").get_data(
        as_text=True
    )


def test_the_pages_and_feed_speak_english_too(client, db, author):
    notice = make_notice(
        db.session, author, kind="traffic", publish_at=utcnow() - timedelta(days=1)
    )
    notices.withdraw(db.session, author, notice, "Wrong dates.", utcnow())
    db.session.commit()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    listing = client.get("/notices").get_data(as_text=True)
    assert "Progress notices" in listing and "Traffic impact" in listing and "Withdrawn" in listing
    page = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "This notice was withdrawn on" in page and "Wrong dates." in page
    _, entries = atom(client, "/notices.atom")
    assert entries[0].find(f"{ATOM}title").text.startswith("[Withdrawn] ")
