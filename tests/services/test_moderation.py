"""Moderation (PIPL): redact, hide, blur, hide the case; the original kept; undone by admins."""

import io

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from portal.models import AuditEntry, CaseEvent, Moderation, utcnow
from portal.services import cases, moderation, photo_cleanup
from portal.services.photos import PhotoStore, process
from tests.factories import category, make_case, make_user

NEIGHBOUR = "隔壁王某电话13800138000，身份证11010519491231002X，总把车停在盲道上。"


@pytest.fixture
def store(app, tmp_path):
    return PhotoStore(app.config["UPLOAD_DIR"])


@pytest.fixture
def dispatcher(db, reference):
    return make_user(db.session, "dispatcher")


@pytest.fixture
def admin(db, reference):
    return make_user(db.session, "admin")


def test_redaction_keeps_the_original_and_is_audited(db, dispatcher):
    case, _ = make_case(db.session, description=NEIGHBOUR)
    assert "personal_data" in case.flags  # flagged on intake
    done = moderation.redact(
        db.session, case, dispatcher, ["13800138000", "11010519491231002X"], "邻居隐私", utcnow()
    )
    db.session.commit()
    assert "13800138000" not in case.description
    assert "11010519491231002X" not in case.description
    assert case.description.count(moderation.REDACTED) == 2
    assert case.moderated and not case.hidden
    assert done.original_text == NEIGHBOUR
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "moderation.redact"))
    assert entry.object_id == case.number and entry.after["reason"] == "邻居隐私"
    staff_only = [e for e in case.events if e.kind == "moderated"]
    assert staff_only and not staff_only[0].public


def test_a_piece_not_in_the_text_changes_nothing(db, dispatcher):
    case, _ = make_case(db.session, description=NEIGHBOUR)
    with pytest.raises(moderation.ModerationError) as refused:
        moderation.redact(db.session, case, dispatcher, ["13999999999"], "邻居隐私", utcnow())
    assert refused.value.code == "pieces"
    db.session.rollback()
    assert case.description == NEIGHBOUR and not case.moderated


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_reason_is_required(db, dispatcher, reason):
    case, _ = make_case(db.session, description=NEIGHBOUR)
    with pytest.raises(moderation.ModerationError):
        moderation.hide_case(db.session, case, dispatcher, reason, utcnow())


@pytest.mark.parametrize("role", ["handler", "supervisor"])
def test_only_dispatchers_and_admins_moderate(db, reference, role):
    case, _ = make_case(db.session, description=NEIGHBOUR)
    user = make_user(db.session, role)
    with pytest.raises(moderation.ModerationError) as refused:
        moderation.redact(db.session, case, user, ["13800138000"], "隐私", utcnow())
    assert refused.value.code == "forbidden"


def test_redacting_a_public_reply(db, dispatcher):
    case, _ = make_case(db.session)
    reply = CaseEvent(case=case, kind="public_reply", body="请联系王师傅 13912345678", public=True)
    db.session.add(reply)
    db.session.flush()
    moderation.redact(
        db.session, case, dispatcher, ["13912345678"], "个人电话", utcnow(), event=reply
    )
    assert "13912345678" not in reply.body and reply.moderated and case.moderated
    internal = CaseEvent(case=case, kind="internal_note", body="13900000000", public=False)
    db.session.add(internal)
    db.session.flush()
    with pytest.raises(moderation.ModerationError):
        moderation.redact(db.session, case, dispatcher, ["13900000000"], "x", utcnow(), internal)


def test_admin_undoes_in_order(db, dispatcher, admin):
    case, _ = make_case(db.session, description=NEIGHBOUR)
    first = moderation.redact(db.session, case, dispatcher, ["13800138000"], "电话", utcnow())
    second = moderation.redact(
        db.session, case, dispatcher, ["11010519491231002X"], "身份证", utcnow()
    )
    with pytest.raises(moderation.ModerationError) as refused:
        moderation.undo(db.session, second, dispatcher, utcnow())
    assert refused.value.code == "forbidden"
    with pytest.raises(moderation.ModerationError) as refused:
        moderation.undo(db.session, first, admin, utcnow())
    assert refused.value.code == "later"
    moderation.undo(db.session, second, admin, utcnow())
    moderation.undo(db.session, first, admin, utcnow())
    db.session.commit()
    assert case.description == NEIGHBOUR and not case.moderated
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert actions.count("moderation.undo") == 2


def test_hiding_a_photo_and_the_case(db, dispatcher, admin, store):
    case, _ = make_case(db.session, store, photos=2)
    first = case.photos[0]
    moderation.hide_photo(db.session, case, dispatcher, first, "人脸", utcnow())
    assert case.public_photos == [case.photos[1]] and case.moderated
    with pytest.raises(moderation.ModerationError):
        moderation.hide_photo(db.session, case, dispatcher, first, "again", utcnow())
    hidden = moderation.hide_case(db.session, case, dispatcher, "涉及隐私", utcnow())
    assert not case.is_public
    moderation.undo(db.session, hidden, admin, utcnow())
    assert case.is_public


def detailed_photo():
    """Return a processed photo with sharp detail (a plate's digits, say) in its top left."""
    image = Image.new("RGB", (640, 480), "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, 320, 8):
        draw.line([(x, 0), (x, 240)], fill="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return process(io.BytesIO(buffer.getvalue()), max_bytes=10**7)


def sharpness(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Return how much neighbouring pixels differ in a region (0 for a flat one)."""
    grey = image.convert("L").crop(box)
    return sum(abs(a - b) for a, b in zip(grey.tobytes(), grey.tobytes()[1:], strict=False))


def test_blurring_a_region_keeps_the_original_file(db, dispatcher, admin, store):
    report = cases.Report(
        category=category(db.session), lat=30.27, lng=120.15, description="车牌照片"
    )
    case, _ = cases.submit(db.session, report, [detailed_photo()], store, utcnow())
    photo = case.photos[0]
    original = photo.sha256
    done = moderation.blur_photo(
        db.session, case, dispatcher, photo, (0.0, 0.0, 0.5, 0.5), "车牌", store, utcnow()
    )
    db.session.commit()
    assert photo.sha256 != original and done.original_sha256 == original
    assert store.exists(original) and store.exists(photo.sha256)
    with Image.open(store.path(photo.sha256)) as blurred, Image.open(store.path(original)) as kept:
        assert blurred.format == "JPEG" and not blurred.getexif()
        assert (blurred.width, blurred.height) == (photo.width, photo.height)
        region = (8, 8, 300, 230)
        assert sharpness(blurred, region) < sharpness(kept, region) / 10
    # Neither file is an orphan for the sweep.
    assert {original, photo.sha256} <= photo_cleanup.referenced(db.session)
    moderation.undo(db.session, done, admin, utcnow())
    assert photo.sha256 == original


@pytest.mark.parametrize(
    "box", [(0.5, 0.5, 0.6, 0.1), (-0.1, 0, 0.5, 0.5), (0, 0, 0, 0.5), (float("nan"), 0, 1, 1)]
)
def test_a_region_outside_the_photo_is_refused(db, dispatcher, store, box):
    case, _ = make_case(db.session, store, photos=1)
    with pytest.raises(moderation.ModerationError) as refused:
        moderation.blur_photo(
            db.session, case, dispatcher, case.photos[0], box, "x", store, utcnow()
        )
    assert refused.value.code == "box"
    assert db.session.scalar(select(Moderation.id)) is None


def test_the_note_follows_the_text():
    assert moderation.with_note("路灯不亮", False) == "路灯不亮"
    assert "路灯不亮" in moderation.with_note("路灯不亮", True)
