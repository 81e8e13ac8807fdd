"""The photo module, with real images made by Pillow."""

import io
import struct
import zlib

import pillow_heif
import pytest
from PIL import Image
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from portal.services.photos import (
    PhotoRejected,
    PhotoStore,
    process,
    read_gps_only,
    save_for_session,
)

MB = 1024 * 1024


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> io.BytesIO:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    return buffer


def gps_exif(lat: float, lng: float, orientation: int | None = None) -> Image.Exif:
    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        degrees, rest = divmod(value * 3600, 3600)
        minutes, seconds = divmod(rest, 60)
        return (degrees, minutes, round(seconds, 4))

    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lng >= 0 else "W", 4: dms(lng)})
    exif.get_ifd(0x8769)[0x9003] = "2026:11:20 08:30:00"
    return exif


def has_no_metadata(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return not image.getexif() and "exif" not in image.info and b"Exif" not in data


def test_orientation_is_applied_before_metadata_is_dropped():
    image = Image.new("RGB", (400, 200), "red")
    image.paste(Image.new("RGB", (200, 200), "blue"), (200, 0))
    photo = process(encode(image, exif=gps_exif(30.2741, 120.1551, orientation=6)), max_bytes=MB)
    assert (photo.width, photo.height) == (200, 400)
    with Image.open(io.BytesIO(photo.data)) as shown:
        top, bottom = shown.getpixel((100, 50)), shown.getpixel((100, 350))
    # Rotated 90° clockwise for display: the left (red) half is now on top.
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60
    assert has_no_metadata(photo.data) and has_no_metadata(photo.thumb)


@pytest.mark.parametrize(("lat", "lng"), [(30.2741, 120.1551), (-33.8568, -70.6483)])
def test_gps_is_read_then_stripped(lat, lng):
    source = encode(Image.new("RGB", (640, 480), "gray"), exif=gps_exif(lat, lng))
    photo = process(source, max_bytes=MB)
    assert photo.gps == pytest.approx((lat, lng), abs=1e-4)
    assert photo.taken_at is not None and photo.taken_at.year == 2026
    assert has_no_metadata(photo.data) and has_no_metadata(photo.thumb)
    source.seek(0)
    assert read_gps_only(source) == pytest.approx((lat, lng), abs=1e-4)


def test_nonsense_gps_is_ignored():
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (10.0, 0.0, 0.0)})
    photo = process(encode(Image.new("RGB", (64, 64)), exif=exif), max_bytes=MB)
    assert photo.gps is None


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_other_formats_become_jpeg(fmt):
    pillow_heif.register_heif_opener()
    image = Image.new("RGBA", (300, 200), (0, 128, 0, 128))
    photo = process(encode(image, fmt), max_bytes=MB)
    with Image.open(io.BytesIO(photo.data)) as shown:
        assert shown.format == "JPEG" and shown.mode == "RGB"


def test_large_photos_are_resized_with_a_thumbnail():
    photo = process(encode(Image.new("RGB", (5000, 3000), "white")), max_bytes=20 * MB)
    assert (photo.width, photo.height) == (2048, 1229)
    with Image.open(io.BytesIO(photo.thumb)) as thumb:
        assert max(thumb.size) == 400


def test_a_phone_photo_decodes_at_half_scale_oriented_and_stripped():
    # A 12-megapixel phone JPEG, held upright: JPEG draft mode decodes it at 1/2 scale,
    # which already fits the full-size box, so it needs no resampling.
    source = encode(Image.new("RGB", (4000, 3000), "white"), exif=gps_exif(30.27, 120.15, 6))
    photo = process(source, max_bytes=20 * MB)
    assert (photo.width, photo.height) == (1500, 2000)
    assert photo.gps == pytest.approx((30.27, 120.15), abs=1e-4)
    assert has_no_metadata(photo.data) and has_no_metadata(photo.thumb)
    with Image.open(io.BytesIO(photo.thumb)) as thumb:
        assert thumb.size == (300, 400)


def test_a_photo_already_small_keeps_its_size():
    photo = process(encode(Image.new("RGB", (1600, 1200), "white")), max_bytes=MB)
    assert (photo.width, photo.height) == (1600, 1200)


def png_bomb(side: int) -> bytes:
    """Return a small PNG whose header claims side × side pixels."""
    row = b"\x00" + b"\x00" * side
    raw = zlib.compress(row * 64, 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    data = encode(Image.effect_noise((800, 600), 50).convert("RGB")).getvalue()
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    data = bytearray(encode(Image.effect_noise((200, 200), 50), "PNG").getvalue())
    middle = len(data) // 2
    data[middle : middle + 16] = b"\xff" * 16
    return bytes(data)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\xff\xd8\xff\xe0 definitely not a jpeg", "not a valid image"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "not a valid image",
        ),
        (b"<html><script>alert(1)</script></html>", "not a valid image"),
        (truncated_jpeg(), "not a valid image"),
        (corrupt_png(), "not a valid image"),
        (encode(Image.new("RGB", (32, 32)), "GIF").getvalue(), "Unsupported"),
        (encode(Image.new("RGB", (32, 32)), "BMP").getvalue(), "Unsupported"),
        (encode(Image.new("RGB", (32, 32)), "TIFF").getvalue(), "Unsupported"),
        (png_bomb(30_000), "too many pixels"),
    ],
)
def test_fakes_broken_files_and_bombs_are_refused(content, message):
    with pytest.raises(PhotoRejected) as refused:
        process(io.BytesIO(content), max_bytes=MB)
    assert message in str(refused.value)


def test_files_over_the_size_limit_are_refused():
    with pytest.raises(PhotoRejected, match="larger than 1 MB"):
        process(io.BytesIO(b"\xff" * (MB + 1)), max_bytes=MB)


def test_polyglot_with_markup_is_refused():
    polyglot = encode(Image.new("RGB", (64, 64), "white")).getvalue() + b"<html><script>x</script>"
    with pytest.raises(PhotoRejected, match="hides other content"):
        process(io.BytesIO(polyglot), max_bytes=MB)


def test_other_trailing_data_is_accepted_and_dropped_by_re_encoding():
    # A phone's "motion photo" appends its video after the JPEG's end: keep the photo only.
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    photo = process(io.BytesIO(encode(Image.new("RGB", (64, 64))).getvalue() + video), max_bytes=MB)
    assert b"ftypmp42" not in photo.data and bytes(range(256)) not in photo.data


def test_store_is_content_addressed(tmp_path):
    store = PhotoStore(tmp_path)
    photo = process(encode(Image.new("RGB", (64, 64), "teal")), max_bytes=MB)
    created = store.write(photo)
    assert created == [store.key(photo.sha256), store.key(photo.sha256, "thumb")]
    assert store.path(photo.sha256).read_bytes() == photo.data
    assert store.write(photo) == []
    assert store.exists(photo.sha256)
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


def test_rollback_removes_only_the_files_it_created(tmp_path):
    store = PhotoStore(tmp_path)
    engine = create_engine("sqlite://")
    kept = process(encode(Image.new("RGB", (64, 64), "olive")), max_bytes=MB)
    fresh = process(encode(Image.new("RGB", (64, 64), "navy")), max_bytes=MB)
    with Session(engine) as session:
        save_for_session(session, store, kept)
        session.commit()
    with Session(engine) as session:
        save_for_session(session, store, kept)
        save_for_session(session, store, fresh)
        assert store.exists(fresh.sha256)
        session.rollback()
    assert store.exists(kept.sha256)
    assert not store.path(fresh.sha256).exists()
    assert not store.path(fresh.sha256, "thumb").exists()


def test_a_rollback_keeps_a_file_another_writer_claimed_meanwhile(tmp_path):
    # Two uploads of the same photo at once: the first writer rolls back after the second
    # found the file and is about to commit a row pointing at it.
    photo = process(encode(Image.new("RGB", (64, 64), "maroon")), max_bytes=MB)
    first, second = PhotoStore(tmp_path), PhotoStore(tmp_path)
    created = first.write(photo)
    assert second.write(photo) == []
    first.discard(created)
    assert second.exists(photo.sha256)
    alone = process(encode(Image.new("RGB", (64, 64), "khaki")), max_bytes=MB)
    first.discard(first.write(alone))
    assert not first.path(alone.sha256).exists()
