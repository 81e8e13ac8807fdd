"""Hostile uploads through every door a photo comes in by: each one is refused with a clear
message in the user's language and leaves nothing behind (no case, no photo row, no file).
Photos that are served never carry EXIF, GPS, XMP, comments or colour profiles."""

from __future__ import annotations

import io
import re
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from portal.models import (
    CHECKLIST,
    Case,
    CaseEvent,
    Department,
    Inspection,
    InspectionPhoto,
    PendingPhoto,
    Photo,
    Project,
    utcnow,
)
from portal.services import apikeys, workflow
from tests.factories import category, make_case, make_user
from tests.open311.conftest import errors_in
from tests.open311.test_api import REPORT as OPEN311_REPORT
from tests.security.hostile_files import (
    REASONS,
    HostileFile,
    awkward_images,
    corpus,
    heic,
    photo_like,
    too_many,
)

MAX_MB = 2
MAX_PHOTOS = 3
CORPUS = corpus(MAX_MB * 1024 * 1024, MAX_PHOTOS)
# What a server fetching media_url sees: the bytes only (no name, no declared type).
BYTE_LEVEL = [h for h in CORPUS if h.reason not in ("file_name", "content_type", "request_nul")]
SITE = (30.2741, 120.1551)
LANGUAGES = {"zh": "zh-CN,zh;q=0.9", "en": "en"}


@pytest.fixture
def app_config():
    return {
        "WTF_CSRF_ENABLED": False,
        "MAX_PHOTO_MB": MAX_MB,
        "MAX_PHOTOS": MAX_PHOTOS,
        "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
    }


def test_the_corpus_has_at_least_twenty_hostile_files():
    assert len(CORPUS) >= 20
    assert len({h.label for h in CORPUS}) == len(CORPUS)
    assert {h.reason for h in CORPUS} | {"too_many"} == set(REASONS)


# What an upload may leave behind, and a door's way of sending files.


def stored(db, upload_dir: Path) -> dict:
    """Return everything an upload could have stored: rows by kind and files on disk."""
    rows = {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Case, CaseEvent, Photo, PendingPhoto, Inspection, InspectionPhoto)
    }
    files = sorted(str(p.relative_to(upload_dir)) for p in upload_dir.rglob("*") if p.is_file())
    return {**rows, "files": files} if upload_dir.exists() else {**rows, "files": []}


def as_upload(hostile: HostileFile) -> FileStorage:
    return FileStorage(
        io.BytesIO(hostile.content), hostile.filename, content_type=hostile.content_type
    )


@dataclass
class Door:
    """One way in for photos: sends files and returns (status, what the user reads)."""

    name: str
    send: Callable[[list[HostileFile]], tuple[int, str]]
    refused_status: int


def page_text(response) -> str:
    return response.get_data(as_text=True)


def post_files(client, url: str, fields: dict):
    """Post a multipart form encoded in memory (the test client would spool a big body to a
    temporary file it never closes)."""
    boundary, body = encode_multipart(MultiDict(fields))
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


@pytest.fixture
def resident_form(client, db, reference):
    data = {
        "category": category(db.session).code,
        "lat": "30.274100",
        "lng": "120.155100",
        "address": "湖墅南路128号附近",
        "description": "人行道上的井盖松动了，踩上去会翻。",
        "hide_name": "y",
    }

    def send(files: list[HostileFile]) -> tuple[int, str]:
        response = post_files(
            client, "/report/new", {**data, "photos": [as_upload(f) for f in files]}
        )
        return response.status_code, page_text(response)

    return Door("resident form", send, 422)


@pytest.fixture
def open311_post(client, db, reference):
    _row, key = apikeys.create(db.session, "FixMyStreet", utcnow())
    db.session.commit()

    def send(files: list[HostileFile]) -> tuple[int, str]:
        # Chinese clients get JSON, English ones XML: both formats must carry the reasons.
        fmt = "xml" if "en" in client.environ_base["HTTP_ACCEPT_LANGUAGE"] else "json"
        response = post_files(
            client,
            f"/open311/v2/requests.{fmt}",
            {**OPEN311_REPORT, "api_key": key, "media": [as_upload(f) for f in files]},
        )
        if response.status_code != 400:
            return response.status_code, page_text(response)
        return 400, "\n".join(description for _code, description in errors_in(response, fmt))

    return Door("Open311 media", send, 400)


class MediaHandler(BaseHTTPRequestHandler):
    content = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.content)))
        self.end_headers()
        self.wfile.write(self.content)

    def log_message(self, *args):
        pass


@pytest.fixture
def open311_media_url(app, client, db, reference):
    server = ThreadingHTTPServer(("127.0.0.1", 0), MediaHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_port}"
    app.config["OPEN311_MEDIA_HOSTS"] = host
    _row, key = apikeys.create(db.session, "FixMyStreet", utcnow())
    db.session.commit()

    def send(files: list[HostileFile]) -> tuple[int, str]:
        (hostile,) = files
        MediaHandler.content = hostile.content
        data = {**OPEN311_REPORT, "api_key": key, "media_url": f"http://{host}/photo.jpg"}
        response = client.post("/open311/v2/requests.json", data=data)
        if response.status_code != 400:
            return response.status_code, page_text(response)
        return 400, "\n".join(description for _code, description in errors_in(response, "json"))

    yield Door("Open311 media_url", send, 400)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def site(db, reference):
    project = Project(
        code="GS-2026-07",
        name="小河路管网改造",
        lat=SITE[0],
        lng=SITE[1],
        geometry={"type": "Point", "coordinates": [SITE[1], SITE[0]]},
        phase="construction",
        active_site=True,
    )
    db.session.add(project)
    db.session.commit()
    return project


@pytest.fixture
def inspection_report(client, db, login_as, site):
    login_as("supervisor")

    def send(files: list[HostileFile]) -> tuple[int, str]:
        page = page_text(client.get(f"/supervisor/inspect/{site.code}"))
        key = re.search(r'name="client_key" type="hidden" value="([0-9a-f]+)"', page).group(1)
        data = {"client_key": key, "lat": str(SITE[0]), "lng": str(SITE[1]), "action": "submit"}
        data.update({f"item-{item}": "fail" if item == "dust" else "pass" for item in CHECKLIST})
        data["photo-dust"] = [as_upload(f) for f in files]
        response = post_files(client, f"/supervisor/inspect/{site.code}", data)
        return response.status_code, page_text(response)

    return Door("supervisor inspection", send, 422)


def case_in_progress(db) -> tuple[Case, Department]:
    """Return a case the road department is working on, and the department."""
    road = db.session.scalar(select(Department).where(Department.code == "ROAD"))
    dispatcher = make_user(db.session, "dispatcher")
    case, _token = make_case(db.session, category_code="0101")
    now = utcnow()
    workflow.accept(db.session, case, dispatcher, "normal", now)
    workflow.route(db.session, case, dispatcher, road, now)
    workflow.start(db.session, case, dispatcher, now)
    db.session.commit()
    return case, road


@pytest.fixture
def after_photos(client, db, login_as):
    case, road = case_in_progress(db)
    login_as("handler", department=road)

    def send(files: list[HostileFile]) -> tuple[int, str]:
        db.session.expire_all()
        data = {
            "version": case.version_id,
            "body": "已修补",
            "photos": [as_upload(f) for f in files],
        }
        response = post_files(client, f"/admin/cases/{case.number}/resolve", data)
        db.session.expire_all()
        assert case.state == "in_progress", "a refused photo must leave the case unresolved"
        if response.status_code != 303:  # refused: the page itself says why
            return response.status_code, page_text(response)
        return response.status_code, page_text(client.get(f"/admin/cases/{case.number}"))

    return Door("officials' after photos", send, 422)  # the case page again, the text kept


DOORS = ["resident_form", "open311_post", "open311_media_url", "inspection_report", "after_photos"]


def refusals(request, app, client, db, door_name: str, language: str, files_per_try: list):
    """Send each group of files through a door; return what went wrong, readably."""
    door: Door = request.getfixturevalue(door_name)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = LANGUAGES[language]
    upload_dir = Path(app.config["UPLOAD_DIR"])
    wrong = []
    for files in files_per_try:
        before = stored(db, upload_dir)
        status, text = door.send(files)
        english, chinese = REASONS[files[0].reason]
        expected = english if language == "en" else chinese
        label = files[0].label if len(files) == 1 else f"{len(files)} files at once"
        refused_status = 400 if files[0].reason == "request_nul" else door.refused_status
        if status != refused_status:
            wrong.append(f"{label}: answered {status}")
        if expected not in text:
            wrong.append(f"{label}: no {expected!r} in the answer")
        after = stored(db, upload_dir)
        if after != before:
            wrong.append(f"{label}: stored something: {before} -> {after}")
    return wrong


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("door_name", DOORS)
def test_every_hostile_file_is_refused_and_nothing_is_stored(
    request, app, client, db, door_name, language
):
    hostile = BYTE_LEVEL if door_name == "open311_media_url" else CORPUS
    tries = [[h] for h in hostile]
    if door_name != "open311_media_url":  # one media_url per request: no "too many"
        tries.append(too_many(MAX_PHOTOS))
    wrong = refusals(request, app, client, db, door_name, language, tries)
    assert not wrong, f"{door_name} ({language}):\n" + "\n".join(wrong)


@pytest.mark.parametrize("door_name", ["resident_form", "open311_post", "inspection_report"])
def test_a_refusal_names_the_file_without_its_path_or_control_characters(
    request, app, client, db, door_name
):
    door: Door = request.getfixturevalue(door_name)
    traversal = next(h for h in CORPUS if h.label == "path-traversal-name")
    control = next(h for h in CORPUS if h.label == "control-characters-in-name")
    _status, text = door.send([traversal])
    assert "passwd.jpg" in text and "../" not in text and "etc/passwd" not in text
    _status, text = door.send([control])
    assert "\x1b" not in text and "\x07" not in text and "photo[2J.jpg" in text


def test_one_bad_photo_among_good_ones_refuses_the_whole_report(app, client, db, resident_form):
    good = too_many(MAX_PHOTOS)[:2]
    bomb = next(h for h in CORPUS if h.label == "png-bomb")
    before = stored(db, Path(app.config["UPLOAD_DIR"]))
    status, text = resident_form.send([*good, bomb])
    assert status == 422 and "bomb.png" in text
    after = stored(db, Path(app.config["UPLOAD_DIR"]))
    # No case and no public photo; the two good photos, cleaned, wait as the form's pending
    # photos (so the resident need not pick them again); nothing of the bomb is kept.
    assert {**after, "PendingPhoto": 0, "files": []} == {**before, "files": []}
    assert after["PendingPhoto"] == 2
    pending = db.session.scalars(select(PendingPhoto.sha256)).all()
    kept_files = {f for f in after["files"] if not f.endswith(".lock")}
    assert kept_files == {f"{h[:2]}/{h}{suffix}" for h in pending for suffix in (".jpg", "_t.jpg")}


def test_a_request_over_the_total_limit_is_refused_with_a_page(app, client, db, resident_form):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    big = HostileFile("big", "big.jpg", bytes(2 * 1024 * 1024), "too_large")
    status, text = resident_form.send([big])
    assert status == 413 and "上传的内容过大" in text
    assert stored(db, Path(app.config["UPLOAD_DIR"]))["Case"] == 0


# Genuine but awkward photos are accepted and shown right.


@pytest.mark.parametrize("name", sorted(awkward_images()))
def test_awkward_genuine_photos_are_accepted_with_their_colours(app, client, db, name):
    from portal.services.photos import process

    content, colour = awkward_images()[name]
    photo = process(io.BytesIO(content), max_bytes=MAX_MB * 1024 * 1024)
    with Image.open(io.BytesIO(photo.data)) as shown:
        centre = shown.convert("RGB").getpixel((shown.width // 2, shown.height // 2))
    assert all(abs(a - b) <= 16 for a, b in zip(centre, colour, strict=True)), centre


# Served photos carry no metadata.


def exif_with_gps(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 15 Pro"
    exif.get_ifd(0x8825).update(
        {1: "N", 2: (30.0, 16.0, 26.76), 3: "E", 4: (120.0, 9.0, 18.36), 6: 12.5}
    )
    exif.get_ifd(0x8769)[0x9003] = "2026:11:20 08:30:00"
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
    b'-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="30,16.446N" exif:GPSLongitude="120,9.306E"/></rdf:RDF></x:xmpmeta>'
)
COMMENT = b"taken by resident 13800000000"


def phone_jpeg() -> bytes:
    """Return a photo as a phone writes it: EXIF with GPS and orientation 6, XMP, a comment."""
    image = photo_like((640, 480))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif_with_gps(), quality=90, comment=COMMENT)
    data = buffer.getvalue()
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + XMP
    return data[:2] + struct.pack(">BBH", 0xFF, 0xE1, len(xmp) + 2) + xmp + data[2:]


def phone_heic() -> bytes:
    """Return a HEIC with GPS EXIF and XMP, as an iPhone writes it."""
    return heic((640, 480), exif=exif_with_gps().tobytes(), xmp=XMP)


def jpeg_segments(data: bytes) -> list[int]:
    """Return the markers of a JPEG's segments up to its first scan."""
    markers, position = [], 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
    return markers


def assert_bare(data: bytes, where: str) -> None:
    """Assert a served photo is a plain JPEG: JFIF header, tables, pixels; nothing else."""
    assert data[:2] == b"\xff\xd8", where
    extra = [hex(m) for m in jpeg_segments(data) if m >= 0xE1 and m != 0xDA]
    assert not extra, f"{where}: metadata segments {extra}"
    for marker in (b"Exif\x00\x00", b"xmpmeta", b"ns.adobe.com", b"PhoneMaker", COMMENT[:12]):
        assert marker not in data, f"{where}: {marker!r} found"
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif(), where
        assert not {"exif", "xmp", "comment", "icc_profile"} & set(image.info), where


def fetch(client, url: str) -> tuple[int, str, bytes]:
    """Return the status, type and bytes of a served file, closing the file behind it."""
    with client.get(url) as response:
        return response.status_code, response.mimetype, response.get_data()


def served_photo_urls(client, case: Case) -> list[str]:
    """Return the photo addresses the public page of a case and its Open311 answer show."""
    page = page_text(client.get(f"/cases/{case.number}"))
    shown = re.findall(r'(?:src|href)="(/photos/[0-9a-f]{64}(?:\.thumb)?\.jpg)"', page)
    answer = client.get(f"/open311/v2/requests/{case.number}.json?extensions=true").get_json()
    media = [answer[0]["media_url"], *answer[0]["media_urls"]]
    site = client.application.config["PUBLIC_URL"]  # absolute links name the site's address
    shown += [url.removeprefix(site) for url in media if url]
    return sorted(set(shown))


def test_served_photos_carry_no_metadata(app, client, db, resident_form, login_as, site):
    files = [
        HostileFile("phone", "IMG_0001.jpg", phone_jpeg(), ""),
        HostileFile("iphone", "IMG_0002.heic", phone_heic(), "", "image/heic"),
    ]
    status, _text = resident_form.send(files)
    assert status == 303
    case = db.session.scalar(select(Case))
    assert case.lat == pytest.approx(30.2741) and case.lng == pytest.approx(120.1551)
    urls = served_photo_urls(client, case)
    rows = db.session.scalars(select(Photo.sha256)).all()
    assert urls == sorted(
        f"/photos/{sha}{variant}.jpg" for sha in rows for variant in ("", ".thumb")
    )
    for url in urls:
        status, mimetype, data = fetch(client, url)
        assert status == 200 and mimetype == "image/jpeg"
        assert_bare(data, url)
    _status, _type, rotated = fetch(client, next(u for u in urls if ".thumb" not in u))
    with Image.open(io.BytesIO(rotated)) as image:
        assert image.height > image.width  # orientation 6 applied before EXIF was dropped

    login_as("supervisor")
    page = page_text(client.get(f"/supervisor/inspect/{site.code}"))
    key = re.search(r'name="client_key" type="hidden" value="([0-9a-f]+)"', page).group(1)
    data = {"client_key": key, "lat": str(SITE[0]), "lng": str(SITE[1]), "action": "submit"}
    fix = {"accuracy": "10", "fix_time": str(int(utcnow().timestamp() * 1000))}
    data.update({**fix, "position_source": "device"})
    data.update({f"item-{item}": "fail" if item == "dust" else "pass" for item in CHECKLIST})
    data["photo-dust"] = [FileStorage(io.BytesIO(phone_heic()), "IMG_3.heic", "photo-dust")]
    submitted = post_files(client, f"/supervisor/inspect/{site.code}", data)
    assert submitted.status_code == 303
    # Its EXIF was read before it was dropped: taken days before the visit, so held for staff.
    report = db.session.scalar(select(Inspection))
    assert report.review_reasons == ["photo_time"]
    login_as("dispatcher")
    review = {"decision": "confirm", "reason": "照片为监督员前几日所摄，现场情况一致"}
    assert client.post(f"/admin/inspections/{report.id}", data=review).status_code == 303
    shas = db.session.scalars(select(InspectionPhoto.sha256)).all()
    assert shas
    for sha in shas:
        status, _type, data = fetch(client, f"/admin/inspections/photos/{sha}.jpg")
        assert status == 200
        assert_bare(data, f"inspection photo {sha}")
    finding = db.session.scalar(select(Case).where(Case.source == "inspection"))
    urls = served_photo_urls(client, finding)
    assert urls
    for url in urls:
        assert_bare(fetch(client, url)[2], url)


def test_after_photos_are_served_bare(app, client, db, login_as, reference):
    case, road = case_in_progress(db)
    login_as("handler", department=road)
    after = FileStorage(io.BytesIO(phone_jpeg()), "after.jpg", content_type="image/jpeg")
    data = {"version": case.version_id, "body": "已修补", "photos": [after]}
    assert post_files(client, f"/admin/cases/{case.number}/resolve", data).status_code == 303
    db.session.expire_all()
    assert case.state == "resolved" and [p.kind for p in case.photos] == ["after"]
    urls = served_photo_urls(client, case)
    assert len(urls) == 2
    for url in urls:
        assert_bare(fetch(client, url)[2], url)
