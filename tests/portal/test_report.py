"""Reporting a problem through the web form."""

import io
import re

import pytest
from sqlalchemy import func, select

from portal.models import Case, Photo
from tests.factories import category, jpeg_bytes, make_case


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def form_data(db, **fields):
    data = {
        "category": category(db.session).code,
        "lat": "30.274100",
        "lng": "120.155100",
        "address": "湖墅南路128号附近",
        "description": "人行道上的井盖松动了，踩上去会翻。",
        "name": "张先生",
        "phone": "13800000000",
        "email": "zhang@example.cn",
        "hide_name": "y",
    }
    data.update(fields)
    return data


def csrf(client, path="/report/new") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def test_form_shows_grouped_categories_in_chinese(client, reference):
    page = client.get("/report/new").get_data(as_text=True)
    assert '<html lang="zh-Hans-CN">' in page
    assert ("<optgroup" in page and "我要反映" in page) or "反映问题" in page
    assert 'name="lat"' in page and 'name="address"' in page


def test_report_with_photo_gives_number_and_private_link(app, client, db, reference):
    data = form_data(db, photos=[(io.BytesIO(jpeg_bytes(3000, 2000)), "IMG_0001.jpg")])
    response = client.post("/report/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    done = client.get(response.headers["Location"]).get_data(as_text=True)
    case = db.session.scalars(select(Case)).one()
    assert case.number in done
    token_link = re.search(r'value="https?://[^/"]+(/track/[^"]+)"', done).group(1)
    assert client.get(token_link).status_code == 200
    assert case.reporter_email == "zhang@example.cn"
    assert count(db, Photo) == 1
    photo = case.photos[0]
    assert max(photo.width, photo.height) == 2048
    public = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "13800000000" not in public and "zhang@example.cn" not in public
    assert "张先生" not in public
    for url in (f"/photos/{photo.sha256}.jpg", f"/photos/{photo.sha256}.thumb.jpg"):
        with client.get(url) as served:
            assert served.status_code == 200 and served.mimetype == "image/jpeg"


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"category": ""}, "category", "请选择问题类别"),
        ({"category": "nope"}, "category", "不是有效的选择"),
        ({"lat": "95", "lng": "120"}, "lat", "纬度"),
        ({"lat": "abc", "lng": "def"}, "lat", "纬度"),
        ({"lat": "", "lng": "", "address": "某某路"}, "lat", "请选择位置"),
        ({"description": ""}, "description", "请描述问题"),
        ({"description": "坑" * 10_000}, "description", "2000"),
        ({"description": "<script>alert(1)</script> 路灯坏了"}, "description", "HTML"),
        ({"email": "not-an-email"}, "email", "电子邮件"),
        ({"phone": "call me"}, "phone", "电话"),
    ],
)
def test_bad_input_is_explained_next_to_the_field_and_saves_nothing(
    client, db, reference, fields, field_id, message
):
    response = client.post("/report/new", data=form_data(db, **fields))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field_id}-error"' in page
    assert message in page
    assert count(db, Case) == 0
    # What the user typed is kept.
    if "description" not in fields:
        assert "人行道上的井盖松动了" in page


def test_broken_image_and_too_many_photos_are_refused(client, db, reference):
    broken = client.post(
        "/report/new",
        data=form_data(db, photos=[(io.BytesIO(b"not an image at all"), "x.jpg")]),
        content_type="multipart/form-data",
    )
    assert broken.status_code == 422
    assert "x.jpg" in broken.get_data(as_text=True)
    many = [(io.BytesIO(jpeg_bytes(64, 64)), f"p{i}.jpg") for i in range(6)]
    too_many = client.post(
        "/report/new", data=form_data(db, photos=many), content_type="multipart/form-data"
    )
    assert too_many.status_code == 422
    assert "最多" in too_many.get_data(as_text=True)
    assert count(db, Case) == 0 and count(db, Photo) == 0


def test_english_messages_when_the_browser_asks(client, db, reference):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB,en;q=0.9"
    page = client.post("/report/new", data=form_data(db, description="")).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Describe the problem." in page


def test_gps_from_the_photo_places_the_report(client, db, reference):
    from PIL import Image

    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (30.0, 16.0, 26.76), 3: "E", 4: (120.0, 9.0, 18.36)})
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), "gray").save(buffer, "JPEG", exif=exif)
    buffer.seek(0)
    data = form_data(db, lat="", lng="", photos=[(buffer, "gps.jpg")])
    response = client.post("/report/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    case = db.session.scalars(select(Case)).one()
    assert case.lat == pytest.approx(30.2741, abs=1e-4)
    assert case.lng == pytest.approx(120.1551, abs=1e-4)


def test_nearby_open_case_is_offered_before_a_new_one(client, db, reference):
    existing, _ = make_case(db.session)
    data = form_data(db, category=existing.category.code, lat="30.27412", lng="120.15511")
    first = client.post("/report/new", data=data)
    page = first.get_data(as_text=True)
    assert first.status_code == 422
    assert existing.number in page and f"/cases/{existing.number}/follow" in page
    assert count(db, Case) == 1
    declined = re.search(r'name="nearby_declined" type="hidden" value="([^"]+)"', page).group(1)
    second = client.post("/report/new", data={**data, "nearby_declined": declined})
    assert second.status_code == 303
    assert count(db, Case) == 2


def test_me_too_counts_once_per_browser(client, db, reference):
    case, _ = make_case(db.session)
    assert client.post(f"/cases/{case.number}/follow", data={}).status_code == 303
    client.post(f"/cases/{case.number}/follow", data={})
    db.session.refresh(case)
    assert case.followers_count == 1
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "1 人" in page or "1 people" in page or "1" in page


def test_a_refused_me_too_address_stays_in_its_field_with_why(client, db, reference):
    case, _ = make_case(db.session)
    answer = client.post(f"/cases/{case.number}/follow", data={"email": "not-an-address"})
    assert answer.status_code == 422  # the case page again, not a redirect that drops it
    page = answer.get_data(as_text=True)
    assert 'value="not-an-address"' in page and 'aria-invalid="true"' in page
    assert "请输入有效的电子邮件地址" in page
    db.session.refresh(case)
    assert case.followers_count == 0


def test_report_form_requires_csrf(app, client, db, reference):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/report/new", data=form_data(db))
    assert response.status_code == 400
    assert count(db, Case) == 0
    token = csrf(client)
    ok = client.post("/report/new", data=form_data(db, csrf_token=token))
    assert ok.status_code == 303


def test_typed_address_without_geocoder_keeps_the_text_and_asks_for_the_pin(client, db, reference):
    page = client.post(
        "/report/new", data=form_data(db, lat="", lng="", address="湖墅南路128号")
    ).get_data(as_text=True)
    assert "请选择位置" in page and 'value="湖墅南路128号"' in page
    assert count(db, Case) == 0


def test_a_name_is_shown_only_when_the_resident_allows_it(client, db, reference):
    data = form_data(db)
    del data["hide_name"]
    assert client.post("/report/new", data=data).status_code == 303
    case = db.session.scalars(select(Case)).one()
    page = client.get(f"/cases/{case.number}").get_data(as_text=True)
    assert "张先生" in page
    assert "13800000000" not in page and "zhang@example.cn" not in page
