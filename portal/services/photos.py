"""Uploaded photos: verify, orient, re-encode, resize, strip metadata, store by hash.

Views call `process` on each upload, then `save_for_session` inside the transaction
that attaches the photo to a case; nothing else in the portal touches Pillow.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pillow_heif
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

pillow_heif.register_heif_opener()

FULL_SIZE = 2048
# JPEG decodes at 1/2, 1/4 or 1/8 scale almost for free: the full copy may come out of
# that reduction directly, as long as its long side keeps at least this many pixels.
DRAFT_FLOOR = FULL_SIZE * 3 // 4
THUMB_SIZE = 400
QUALITY = 85
FORMATS = {"JPEG", "PNG", "WEBP", "HEIF"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")
SESSION_KEY = "portal_new_photo_files"
GPS_IFD = 0x8825
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 0x9003


class PhotoRejected(ValueError):
    """Raised with a user-facing, translatable message."""

    def __init__(self, message: object) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo ready to be stored: re-encoded JPEGs without any metadata."""

    sha256: str
    data: bytes
    thumb: bytes
    width: int
    height: int
    gps: tuple[float, float] | None
    taken_at: datetime | None


def _read_limited(stream: BinaryIO, max_bytes: int) -> bytes:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PhotoRejected(
            _l("The photo is larger than %(mb)s MB.", mb=round(max_bytes / 1024 / 1024))
        )
    if not data:
        raise PhotoRejected(_l("The file is empty."))
    return data


def _ratio(value: object) -> float:
    if isinstance(value, tuple):
        numerator, denominator = value
        return float(numerator) / float(denominator)
    return float(value)


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    """Return (lat, lng) from the EXIF GPS block, or None when absent or nonsense."""
    try:
        gps = exif.get_ifd(GPS_IFD)
        if not gps or 2 not in gps or 4 not in gps:
            return None
        lat_dms, lng_dms = gps[2], gps[4]
        lat = sum(_ratio(v) / 60**i for i, v in enumerate(lat_dms))
        lng = sum(_ratio(v) / 60**i for i, v in enumerate(lng_dms))
        if str(gps.get(1, "N")).upper().startswith("S"):
            lat = -lat
        if str(gps.get(3, "E")).upper().startswith("W"):
            lng = -lng
    except (ValueError, TypeError, ZeroDivisionError, KeyError, IndexError, struct.error):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return round(lat, 7), round(lng, 7)


def _taken_at(exif: Image.Exif) -> datetime | None:
    try:
        text = exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL)
        return datetime.strptime(str(text).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except (ValueError, TypeError, KeyError, struct.error):
        return None


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open and identify an image from its header, refusing bombs before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PhotoRejected(_l("The image is too large (too many pixels).")) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as error:
        raise PhotoRejected(_l("This file is not a valid image.")) from error
    if image.format not in FORMATS:
        raise PhotoRejected(_l("Unsupported image format. Please use JPEG, PNG, WebP or HEIC."))
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        raise PhotoRejected(_l("The image is too large (too many pixels)."))
    return image


def _draft_request(size: tuple[int, int]) -> tuple[int, int] | None:
    """Return the size to ask JPEG draft mode for: the smallest DCT scale whose long side
    stays at or above DRAFT_FLOOR (Pillow picks the scale from both sides), or None."""
    width, height = size
    for scale in (8, 4, 2):
        if max(width, height) // scale >= DRAFT_FLOOR:
            return max(1, width // scale), max(1, height // scale)
    return None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # A fresh save with no exif/icc arguments writes no metadata at all.
    image.save(buffer, "JPEG", quality=QUALITY, optimize=False, progressive=True)
    return buffer.getvalue()


def process(stream: BinaryIO, *, max_bytes: int, max_pixels: int = 40_000_000) -> ProcessedPhoto:
    """Verify, orient, re-encode, resize and strip one uploaded image."""
    data = _read_limited(stream, max_bytes)
    image = _open(data, max_pixels)
    try:
        exif = image.getexif()
        gps, taken_at = _gps(exif), _taken_at(exif)
        request = _draft_request(image.size) if image.format == "JPEG" else None
        if request is not None:
            # Decode at a reduced scale: a 12-megapixel photo (4000 × 3000) decodes straight
            # to 2000 × 1500, a quarter of the pixels, and needs no resampling after.
            image.draft("RGB", request)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        oriented = ImageOps.exif_transpose(image)
        full = _to_rgb(oriented)
        full.thumbnail((FULL_SIZE, FULL_SIZE), Image.Resampling.LANCZOS)
        full.info = {}  # JPEG save would carry a comment or other metadata over
        thumb = full.copy()
        thumb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
        data_out, thumb_out = _encode(full), _encode(thumb)
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PhotoRejected(_l("The image is too large (too many pixels).")) from error
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError) as error:
        raise PhotoRejected(_l("This file is not a valid image.")) from error
    finally:
        image.close()
    return ProcessedPhoto(
        sha256=hashlib.sha256(data_out).hexdigest(),
        data=data_out,
        thumb=thumb_out,
        width=full.width,
        height=full.height,
        gps=gps,
        taken_at=taken_at,
    )


def read_gps_only(
    stream: BinaryIO, max_bytes: int = 50 * 1024 * 1024
) -> tuple[float, float] | None:
    """Return the EXIF GPS position of an image without processing it."""
    try:
        with Image.open(io.BytesIO(_read_limited(stream, max_bytes))) as image:
            return _gps(image.getexif())
    except (PhotoRejected, UnidentifiedImageError, OSError, ValueError, struct.error):
        return None


class PhotoStore:
    """Content-addressed files under a root directory: <root>/<sha[:2]>/<sha>.jpg and _t.jpg."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, sha256: str, variant: str = "full") -> Path:
        """Return where one variant of a photo is stored."""
        if not SHA256.match(sha256) or variant not in ("full", "thumb"):
            raise ValueError("not a photo reference")
        suffix = "_t.jpg" if variant == "thumb" else ".jpg"
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def exists(self, sha256: str) -> bool:
        """Tell whether both files of a photo are stored."""
        return self.path(sha256).exists() and self.path(sha256, "thumb").exists()

    def write(self, photo: ProcessedPhoto) -> list[Path]:
        """Write both files atomically; return the paths that were newly created."""
        created = []
        for variant, content in (("full", photo.data), ("thumb", photo.thumb)):
            target = self.path(photo.sha256, variant)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(content)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            created.append(target)
        return created

    def remove(self, paths: Iterable[Path]) -> None:
        """Delete files, ignoring those already gone."""
        for path in paths:
            Path(path).unlink(missing_ok=True)


def save_for_session(
    session: Session | scoped_session, store: PhotoStore, photo: ProcessedPhoto
) -> None:
    """Write the files now (before the commit); delete the new ones if the session rolls back."""
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        session.begin()  # so that a rollback, even with no SQL yet, fires the clean-up
    created = store.write(photo)
    session.info.setdefault(SESSION_KEY, []).extend(created)


@event.listens_for(Session, "after_commit")
def _keep_files(session: Session) -> None:
    session.info.pop(SESSION_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_files(session: Session, previous_transaction: object) -> None:
    # A case never points at a missing file, and a failed commit leaves no orphan.
    for path in session.info.pop(SESSION_KEY, []):
        Path(path).unlink(missing_ok=True)
