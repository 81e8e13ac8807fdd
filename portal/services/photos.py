"""Uploaded photos: verify, orient, re-encode, resize, strip metadata, store by hash.

Views call `process` on each upload, then `save_for_session` inside the transaction
that attaches the photo to a case; nothing else in the portal touches Pillow.

Besides decoding, `process` reads the file's container (JPEG segments, PNG and WebP chunks,
HEIF boxes) and refuses markup or script hidden in its metadata or after the image's end
(polyglots), and repeated or oversized metadata. Other trailing data, such as the video of
a phone's "motion photo", is accepted and dropped: only the re-encoded pixels are stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pillow_heif
from flask import Response, abort, current_app, redirect, request, send_file
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from portal.services import singleton, storage

pillow_heif.register_heif_opener()

FULL_SIZE = 2048
# JPEG decodes at 1/2, 1/4 or 1/8 scale almost for free: the full copy may come out of
# that reduction directly, as long as its long side keeps at least this many pixels.
DRAFT_FLOOR = FULL_SIZE * 3 // 4
THUMB_SIZE = 400
QUALITY = 85
# MPO: a JPEG followed by more images (an HDR gain map, a depth map), as phones now write.
FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "HEIF"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")
SESSION_KEY = "portal_new_photo_files"
# Held shared by every transaction that writes or claims photo objects until it ends, and
# alone by the orphan sweep: on PostgreSQL the sweep never judges an object a transaction on
# any node is about to point at (a folder's lock covers only one machine).
STORE_LOCK = "photo-store"
LOCK_FILE = storage.LOCK_FILE
PART_SUFFIX = storage.PART_SUFFIX
GPS_IFD = 0x8825
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 0x9003
OFFSET_TIME_ORIGINAL = 0x9011
# What a browser could run if it ever sniffed the file as a page, searched in lower-cased
# bytes; two patterns with a literal start and a substring are much faster than one (?i).
ACTIVE_TAGS = re.compile(rb"<(?:script|iframe|object|embed|html|body|svg|!doctype|\?php)[\s>/]")
ACTIVE_HANDLERS = re.compile(rb"on(?:error|load)\s*=")
MAX_METADATA_BLOCKS = 256  # a phone writes a few; a portrait photo's extended XMP some tens
MAX_EXIF_BYTES = 65_536  # JPEG's own limit for one EXIF segment
ANIMATED_FORMATS = {"PNG", "WEBP"}
# In a JPEG's entropy-coded data, the next marker: 0xFF not followed by a stuffed 0 or RST.
JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class PhotoRejected(ValueError):
    """Raised with a user-facing, translatable message."""

    def __init__(self, message: object) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class OriginalExif:
    """What the upload's own EXIF said, read before it is stripped; never stored as such.

    `taken_at` is DateTimeOriginal as the camera wrote it (its local time); `utc_offset` is
    OffsetTimeOriginal when the camera wrote one, else None (the reader assumes the office's
    time zone)."""

    taken_at: datetime | None
    utc_offset: timedelta | None
    lat: float | None
    lng: float | None

    @property
    def found(self) -> bool:
        """Tell whether the file carried a time or a position at all."""
        return self.taken_at is not None or self.lat is not None


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
    original_exif: OriginalExif | None = None


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


def _utc_offset(exif: Image.Exif) -> timedelta | None:
    """Return OffsetTimeOriginal ("+08:00") as a timedelta, or None when absent or nonsense."""
    try:
        text = str(exif.get_ifd(EXIF_IFD).get(OFFSET_TIME_ORIGINAL) or "").strip("\x00 ")
    except (ValueError, TypeError, KeyError, struct.error):
        return None
    found = re.fullmatch(r"([+-])(\d{2}):(\d{2})", text)
    if found is None or int(found[2]) > 14 or int(found[3]) >= 60:
        return None
    offset = timedelta(hours=int(found[2]), minutes=int(found[3]))
    return -offset if found[1] == "-" else offset


@dataclass
class _Container:
    """What surrounds the pixels: metadata blocks, and bytes after the image's end."""

    metadata: list[bytes]
    trailing: bytes = b""
    exif_blocks: int = 0


def _jpeg_parts(data: bytes) -> _Container:
    parts, position = _Container([]), 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            break  # not a marker: Pillow's decoding says what is wrong
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker == 0xD9:  # end of image
            parts.trailing = data[position + 2 :]
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        body = data[position + 4 : position + 2 + length]
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            parts.metadata.append(body)
            parts.exif_blocks += marker == 0xE1 and body.startswith(b"Exif\x00")
        position += 2 + length
        if marker == 0xDA:  # start of scan: skip its entropy-coded data
            found = JPEG_NEXT_MARKER.search(data, position)
            position = found.start() if found else len(data)
    return parts


def _inflate(body: bytes, limit: int = 1 << 20) -> bytes:
    try:
        return zlib.decompressobj().decompress(body, limit)
    except zlib.error:
        return body


def _png_parts(data: bytes) -> _Container:
    parts, position = _Container([]), 8
    while position + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IEND":
            parts.trailing = data[position:]
            break
        if kind in (b"tEXt", b"iTXt", b"eXIf", b"iCCP") or not kind[:1].isupper():
            parts.metadata.append(body)
            parts.exif_blocks += kind == b"eXIf"
        if kind == b"zTXt":  # keyword, NUL, method, compressed text
            parts.metadata.append(_inflate(body.partition(b"\x00")[2][1:]))
        if kind == b"iTXt" and body.partition(b"\x00")[2][:1] == b"\x01":
            parts.metadata.append(_inflate(body.split(b"\x00", 4)[-1]))
    return parts


def _webp_parts(data: bytes) -> _Container:
    (size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + size)
    parts, position = _Container([], trailing=data[8 + size :]), 12
    while position + 8 <= end:
        kind, length = struct.unpack("<4sI", data[position : position + 8])
        if kind not in (b"VP8 ", b"VP8L", b"ALPH", b"ANMF"):
            parts.metadata.append(data[position + 8 : position + 8 + length])
            parts.exif_blocks += kind == b"EXIF"
        position += 8 + length + (length & 1)
    return parts


def _heif_parts(data: bytes) -> _Container:
    parts, position = _Container([]), 0
    while position + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        if size == 1 and position + 16 <= len(data):
            (size,) = struct.unpack(">Q", data[position + 8 : position + 16])
        elif size == 0:
            size = len(data) - position
        if size < 8 or position + size > len(data) or not kind.isascii():
            parts.trailing = data[position:]  # not a box: something was appended
            break
        if kind != b"mdat":
            parts.metadata.append(data[position : position + size])
        position += size
    return parts


CONTAINERS = {
    "JPEG": _jpeg_parts,
    "MPO": _jpeg_parts,
    "PNG": _png_parts,
    "WEBP": _webp_parts,
    "HEIF": _heif_parts,
}


def _active_content(block: bytes) -> bool:
    lowered = block.lower()
    return bool(
        b"javascript:" in lowered or ACTIVE_TAGS.search(lowered) or ACTIVE_HANDLERS.search(lowered)
    )


def _check_container(data: bytes, image: Image.Image) -> None:
    """Refuse hidden markup or script, and repeated or oversized metadata."""
    try:
        parts = CONTAINERS[image.format](data)
    except struct.error:
        return  # a malformed container fails to decode: Pillow's refusal says so
    if any(_active_content(block) for block in [*parts.metadata, parts.trailing]):
        raise PhotoRejected(
            _l("This image hides other content (a web page or a script). Send the photo itself.")
        )
    exif = image.info.get("exif") or b""
    if (
        len(parts.metadata) > MAX_METADATA_BLOCKS
        or parts.exif_blocks > 1
        or len(exif) > MAX_EXIF_BYTES
    ):
        raise PhotoRejected(
            _l("This image carries too much metadata (EXIF and the like). Send the photo itself.")
        )


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
    if image.format in ANIMATED_FORMATS and getattr(image, "n_frames", 1) > 1:
        raise PhotoRejected(_l("Animated images are not accepted. Send a still photo."))
    _check_container(data, image)
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
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit grey: scale to 8 bits, or everything above 255 would turn white.
        return image.convert("I").point(lambda value: value / 256).convert("L").convert("RGB")
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
        original = OriginalExif(
            taken_at=taken_at,
            utc_offset=_utc_offset(exif) if taken_at else None,
            lat=gps[0] if gps else None,
            lng=gps[1] if gps else None,
        )
        request = _draft_request(image.size) if image.format in ("JPEG", "MPO") else None
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
        original_exif=original,
    )


def blur_region(
    store: PhotoStore, sha256: str, box: tuple[float, float, float, float]
) -> ProcessedPhoto:
    """Return a stored photo with one region made unreadable, re-encoded without metadata.

    `box` is (left, top, width, height) as fractions of the photo. The region is first
    shrunk to a coarse mosaic and then blurred, so no detail of it survives in the new file;
    the original file stays in the store for the staff who may see it."""
    left, top, width, height = box
    with Image.open(io.BytesIO(store.backend.get(store.key(sha256)))) as stored:
        image = _to_rgb(stored)
        image.load()
    x0, y0 = round(left * image.width), round(top * image.height)
    x1 = min(image.width, x0 + max(1, round(width * image.width)))
    y1 = min(image.height, y0 + max(1, round(height * image.height)))
    region = image.crop((x0, y0, x1, y1))
    coarse = region.resize(
        (max(1, region.width // 16), max(1, region.height // 16)), Image.Resampling.BOX
    )
    mosaic = coarse.resize(region.size, Image.Resampling.NEAREST)
    image.paste(mosaic.filter(ImageFilter.GaussianBlur(8)), (x0, y0))
    image.info = {}
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    data_out = _encode(image)
    return ProcessedPhoto(
        sha256=hashlib.sha256(data_out).hexdigest(),
        data=data_out,
        thumb=_encode(thumb),
        width=image.width,
        height=image.height,
        gps=None,
        taken_at=None,
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
    """Content-addressed photos in an object store (storage.py): keys <sha[:2]>/<sha>.jpg
    and <sha[:2]>/<sha>_t.jpg, on local disk or on S3.

    An object is written before the row that points at it is committed: a crash can leave
    an object without a row (the orphan sweep collects it after a grace period), never a row
    without its object. A writer that finds the object already there claims it (a new token
    and modification time), so that neither a rollback elsewhere nor the sweep removes an
    object a transaction is about to point at. Given a path, the store is a folder.
    """

    def __init__(self, root: str | os.PathLike | storage.LocalStore | storage.S3Store) -> None:
        if isinstance(root, (str, os.PathLike)):
            root = storage.LocalStore(root)
        self.backend = root
        self._stamps: dict[str, str] = {}

    @property
    def root(self) -> Path:
        """The folder of a store on local disk."""
        if not isinstance(self.backend, storage.LocalStore):
            raise AttributeError("an object store has no local folder")
        return self.backend.root

    @staticmethod
    def key(sha256: str, variant: str = "full") -> str:
        """Return the key one variant of a photo is stored under."""
        if not SHA256.match(sha256) or variant not in ("full", "thumb"):
            raise ValueError("not a photo reference")
        suffix = "_t.jpg" if variant == "thumb" else ".jpg"
        return f"{sha256[:2]}/{sha256}{suffix}"

    def path(self, sha256: str, variant: str = "full") -> Path:
        """Return where one variant of a photo is stored on local disk."""
        return self.root / self.key(sha256, variant)

    def exists(self, sha256: str) -> bool:
        """Tell whether both files of a photo are stored."""
        return all(self.backend.head(self.key(sha256, v)) is not None for v in ("full", "thumb"))

    def locked(self):
        """Hold the store's lock (a folder's, shared by every process on the machine)."""
        return self.backend.locked()

    def _claim(self, key: str) -> bool:
        token = self.backend.claim(key)
        if token is not None and key in self._stamps:
            # Still this store's own new object: a rollback must be able to delete it.
            self._stamps[key] = token
        return token is not None

    def keep(self, sha256: str) -> bool:
        """Claim both objects of a stored photo a new row is about to point at; False if
        either is gone."""
        return all([self._claim(self.key(sha256)), self._claim(self.key(sha256, "thumb"))])

    def write(self, photo: ProcessedPhoto) -> list[str]:
        """Write both objects; return the keys that were newly created."""
        created = []
        for variant, content in (("full", photo.data), ("thumb", photo.thumb)):
            key = self.key(photo.sha256, variant)
            token, new = self.backend.put(key, content, content_type="image/jpeg")
            if new:
                self._stamps[key] = token
                created.append(key)
            elif key in self._stamps:
                self._stamps[key] = token  # still our own new object, claimed again
        return created

    def discard(self, keys: Iterable[str | Path]) -> None:
        """Delete objects this store created, unless another writer has claimed them since."""
        for key in keys:
            key = self._as_key(key)
            token = self._stamps.pop(key, None)
            if token is not None:
                self.backend.delete_if(key, token)

    def remove(self, keys: Iterable[str | Path]) -> None:
        """Delete objects, ignoring those already gone."""
        for key in keys:
            self.backend.delete(self._as_key(key))

    def _as_key(self, key: str | Path) -> str:
        if isinstance(key, Path):
            return key.relative_to(self.root).as_posix()
        return key

    def response(self, sha256: str, variant: str, *, public: bool, max_age: int) -> Response:
        """Answer with a stored photo whose access was checked: a file from local disk; from
        S3, a redirect to a presigned link (STORAGE_SERVE=redirect) or the bytes through the
        app. 404 when the photo is not stored."""
        try:
            key = self.key(sha256, variant)
        except ValueError:
            abort(404)
        if public:
            # A year's life means a content-hash address: its bytes never change.
            immutable = ", immutable" if max_age >= 86400 else ""
            cache = f"public, max-age={max_age}{immutable}"
        else:
            cache = f"private, max-age={max_age}" if max_age else "private, no-store"
        if isinstance(self.backend, storage.LocalStore):
            path = self.backend.path(key)
            if not path.exists():
                abort(404)
            response = send_file(path, mimetype="image/jpeg", max_age=max_age)
        elif current_app.config.get("STORAGE_SERVE") == "redirect":
            seconds = int(current_app.config.get("STORAGE_LINK_SECONDS", 60))
            seconds = max(seconds, max_age) if public else seconds
            if self.backend.head(key) is None:
                abort(404)
            link = self.backend.presigned_url(key, min(seconds, 604800), cache)
            response = redirect(str(link), code=302)
            # The redirect itself may be kept no longer than the link lives.
            keep = min(seconds // 2, 3600) if public else 0
            response.headers["Cache-Control"] = f"public, max-age={keep}" if keep else cache
            return response
        else:
            try:
                data = self.backend.get(key)
            except FileNotFoundError:
                abort(404)
            response = Response(data, mimetype="image/jpeg")
            response.set_etag(f"{sha256}-{variant}")
            response.make_conditional(request)
        response.headers["Cache-Control"] = cache
        return response


def store_for_app() -> PhotoStore:
    """Return a photo store on the app's object store (STORAGE_URL, or UPLOAD_DIR)."""
    return PhotoStore(storage.for_app(current_app))


def save_for_session(
    session: Session | scoped_session, store: PhotoStore, photo: ProcessedPhoto
) -> None:
    """Write the files now (before the commit); delete the new ones if the session rolls back."""
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        session.begin()  # so that a rollback, even with no SQL yet, fires the clean-up
    singleton.hold(session, STORE_LOCK, shared=True)
    created = store.write(photo)
    session.info.setdefault(SESSION_KEY, []).append((store, created))


@event.listens_for(Session, "after_commit")
def _keep_files(session: Session) -> None:
    session.info.pop(SESSION_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_files(session: Session, previous_transaction: object) -> None:
    # A case never points at a missing file, and a failed commit leaves no orphan.
    for store, created in session.info.pop(SESSION_KEY, []):
        # The store down: the orphan sweep removes these objects later.
        with contextlib.suppress(storage.StoreUnavailable):
            store.discard(created)
