"""A report with a 12-megapixel phone JPEG: the whole request and the photo step alone,
beside Pillow alone opening, orienting, reducing (draft mode) and saving the same file."""

from __future__ import annotations

import io
import os
import re
import shutil
import statistics
import tempfile

from PIL import Image, ImageChops, ImageOps
from sqlalchemy import select

from bench.harness import WARM_UP, Run, percentile, register, side_by_side, timed
from portal.extensions import db
from portal.models import Category
from portal.services import photos

WIDTH, HEIGHT = 4000, 3000  # a 12-megapixel phone camera
TARGET = 1.3  # times Pillow alone
ORIENTATION = 0x0112
GPS_IFD, EXIF_IFD = 0x8825, 0x8769


def phone_jpeg(variants: int, seed: int = 8) -> list[bytes]:
    """Return JPEGs like a phone's (4000 × 3000, held upright: EXIF orientation 6, with GPS
    and the time taken, 3–5 MB); each variant differs by a patch, so each stores anew."""
    lines = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    columns = Image.linear_gradient("L").rotate(90).resize((WIDTH, HEIGHT))
    # Smooth shapes of a scene under a sensor's fine grain.
    shapes = Image.effect_noise((WIDTH // 2, HEIGHT // 2), 64).resize(
        (WIDTH, HEIGHT), Image.Resampling.BILINEAR
    )
    grain = Image.effect_noise((WIDTH, HEIGHT), 4)
    red = ImageChops.add(ImageChops.multiply(lines, shapes), grain, offset=-20)
    green = ImageChops.add(ImageChops.blend(columns, shapes, 0.5), grain, offset=-12)
    blue = ImageChops.blend(lines.transpose(Image.Transpose.FLIP_TOP_BOTTOM), grain, 0.3)
    scene = Image.merge("RGB", (red, green, blue))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F], exif[0x0110] = "PhoneMaker", "Phone 12"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (30.0, 16.0, 26.76), 3: "E", 4: (120.0, 9.0, 18.36)})
    exif.get_ifd(EXIF_IFD)[0x9003] = "2026:11:20 08:30:00"
    files = []
    for n in range(variants):
        scene.paste(
            (seed * 31 % 256, n * 7 % 256, n % 256), (n * 8 % WIDTH, 0, n * 8 % WIDTH + 8, 8)
        )
        buffer = io.BytesIO()
        scene.save(buffer, "JPEG", quality=90, exif=exif)
        files.append(buffer.getvalue())
    return files


def pillow_alone(data: bytes) -> tuple[int, int]:
    """Open, reduce in draft mode, orient and save at the portal's size and quality."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (image.width // 2, image.height // 2))  # decode at 1/2 scale
        oriented = ImageOps.exif_transpose(image)
        oriented.thumbnail((photos.FULL_SIZE, photos.FULL_SIZE), Image.Resampling.LANCZOS)
        oriented.save(io.BytesIO(), "JPEG", quality=photos.QUALITY, progressive=True)
        return oriented.size


def photo_step(data: bytes) -> tuple[int, int]:
    """Run the portal's photo processing on one upload."""
    photo = photos.process(io.BytesIO(data), max_bytes=15 * 1024 * 1024)
    return photo.width, photo.height


def _summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values) * 1000, percentile(values, 0.95) * 1000


@register(
    "photo",
    "a report with a 12-megapixel phone JPEG: the photo step vs Pillow alone, the request",
    f"photo step ≤ {TARGET}× Pillow alone",
)
def run(run: Run) -> list[dict]:
    """Time the photo step and Pillow alone alternately, then whole report requests."""
    files = phone_jpeg(WARM_UP + run.rounds)
    size_mb = sorted(len(f) for f in files)[len(files) // 2] / 1e6
    print(f"   phone JPEG: {WIDTH} × {HEIGHT}, {size_mb:.1f} MB")
    sizes = {photo_step(files[0]), pillow_alone(files[0])}
    assert len(sizes) == 1, sizes  # the same output, both ways
    shared = {"database": run.database, "cases": run.cases, "photo_mb": round(size_mb, 2)}
    step, alone = side_by_side(
        lambda: photo_step(files[0]), lambda: pillow_alone(files[0]), run.rounds
    )
    photo = {"benchmark": "report photo step", **shared, "output": "×".join(map(str, *sizes))}
    photo["portal_p50_ms"], photo["portal_p95_ms"] = _summary(step)
    photo["raw_p50_ms"], photo["raw_p95_ms"] = _summary(alone)
    photo["ratio_p50"] = photo["portal_p50_ms"] / photo["raw_p50_ms"]
    photo["ratio_p95"] = photo["portal_p95_ms"] / photo["raw_p95_ms"]
    photo["met"] = photo["ratio_p50"] <= TARGET and photo["ratio_p95"] <= TARGET
    app = run.app()
    uploads = tempfile.mkdtemp(prefix="bench-photos-")
    app.config.update(WTF_CSRF_ENABLED=True, UPLOAD_DIR=uploads)  # as a browser meets it
    try:
        with app.app_context():
            code = db.session.scalar(
                select(Category.code)
                .where(Category.active, ~Category.attributes.any())
                .order_by(Category.sort_order)
            )
            client = app.test_client()
            # Each upload differs, so that each request stores its files anew.
            requests = [_submit(client, code, data) for data in files][WARM_UP:]
    finally:
        shutil.rmtree(uploads, ignore_errors=True)
    request = {"benchmark": "report request", **shared, "met": None}
    request["portal_p50_ms"], request["portal_p95_ms"] = _summary(requests)
    request["note"] = "the whole POST /report/new with one photo, in process; no reference"
    photo["note"] = f"{photo['output']} px; load {os.getloadavg()[0]:.1f}"  # a shared machine
    return [photo, request]


def _submit(client, category: str, data: bytes) -> float:
    """Post one report as a browser would (the form's CSRF token first); return its time."""
    page = client.get("/report/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = {
        "csrf_token": token,
        "category": category,
        "lat": "30.274100",
        "lng": "120.155100",
        "description": "人行道上的井盖松动了，踩上去会翻。",
        "photos": [(io.BytesIO(data), "IMG_0001.jpg")],
    }
    # Every report is at the same place: go past the earlier ones as the page's script does.
    near = {"lat": form["lat"], "lng": form["lng"], "category": category}
    form["nearby_declined"] = client.get("/api/v1/cases/nearby", query_string=near).json["offer"]
    answers = []
    elapsed = timed(
        lambda: answers.append(
            client.post("/report/new", data=form, content_type="multipart/form-data")
        )
    )
    assert answers[0].status_code == 303, answers[0].get_data(as_text=True)[:2000]
    return elapsed
