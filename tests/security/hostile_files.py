"""A corpus of hostile uploads, built in code (nothing binary is committed).

Each `HostileFile` names the refusal a resident should read; `awkward_images` are odd but
genuine photos (CMYK, 16-bit, palette, grey) that must be accepted and shown right.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()

# What the resident reads, by refusal, in English and Chinese (a fragment of each).
REASONS = {
    "empty": ("The file is empty.", "文件是空的"),
    "too_large": ("The photo is larger than", "照片超过"),
    "not_image": ("This file is not a valid image.", "不是有效的图片"),
    "unsupported": ("Unsupported image format.", "不支持该图片格式"),
    "too_many_pixels": ("The image is too large (too many pixels).", "像素过多"),
    "hidden_content": ("hides other content", "夹带了其他内容"),
    "metadata": ("too much metadata", "元数据（EXIF 等）过多"),
    "animated": ("Animated images are not accepted", "不接受动图"),
    "file_name": ("The file name is not acceptable", "文件名不可接受"),
    # A NUL anywhere in a request is refused before any view reads the form (400).
    "request_nul": (
        "The request contains characters that are not allowed",
        "请求中含有不允许的字符",
    ),
    "content_type": ("The file was not sent as an image", "不是以图片形式发送"),
    "too_many": ("Attach at most", "最多上传"),
}


@dataclass(frozen=True)
class HostileFile:
    """One upload and the refusal it must meet."""

    label: str
    filename: str
    content: bytes
    reason: str
    content_type: str = "image/jpeg"


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo_like(size: tuple[int, int] = (320, 240)) -> Image.Image:
    """Return a noisy picture (so that truncating it really cuts image data)."""
    return Image.merge(
        "RGB",
        [Image.effect_noise(size, 60).point(lambda v, k=k: (v + k) % 256) for k in (0, 80, 160)],
    )


def jpeg(size: tuple[int, int] = (320, 240), **options: object) -> bytes:
    """Return a genuine JPEG."""
    return _save(photo_like(size), "JPEG", quality=90, **options)


def png(image: Image.Image | None = None, **options: object) -> bytes:
    """Return a genuine PNG."""
    return _save(image or photo_like(), "PNG", **options)


def heic(size: tuple[int, int] = (320, 240), **options: object) -> bytes:
    """Return a genuine HEIC."""
    return _save(photo_like(size), "HEIF", quality=80, **options)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_claiming(width: int, height: int) -> bytes:
    """Return a few hundred bytes of PNG whose header claims width × height pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress((b"\x00" + b"\x00" * min(width, 4096)) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def gif_claiming(width: int, height: int) -> bytes:
    """Return a tiny GIF whose logical screen and frame claim width × height pixels."""
    screen = (
        b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00" * 3 + b"\xff" * 3
    )
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return screen + frame + b"\x02\x02\x44\x01\x00\x3b"


def jpeg_claiming(width: int, height: int) -> bytes:
    """Return a real JPEG whose frame header (SOF) is rewritten to claim width × height."""
    data = bytearray(jpeg((64, 64)))
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at > 0:
            data[at + 5 : at + 9] = struct.pack(">HH", height, width)
            return bytes(data)
    raise AssertionError("no frame header")


def jpeg_with_segments(marker: int, payload: bytes, count: int) -> bytes:
    """Return a real JPEG with `count` extra APPn/COM segments inserted after SOI."""
    segment = struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload
    data = jpeg((64, 64))
    return data[:2] + segment * count + data[2:]


def exif_block(size: int = 65_000) -> bytes:
    """Return an APP1 EXIF payload padded to about `size` bytes."""
    exif = Image.Exif()
    exif[0x010F] = "X" * (size - 64)
    return b"Exif\x00\x00" + exif.tobytes()


def webp() -> bytes:
    """Return a genuine WebP."""
    return _save(photo_like(), "WEBP", quality=80)


def corrupt_webp() -> bytes:
    """Return a WebP whose RIFF and VP8 headers are right but whose first partition is not."""
    data = bytearray(webp())
    frame = data.find(b"\x9d\x01\x2a")  # the VP8 start code, then width and height
    data[frame + 7 : frame + 47] = b"\xff" * 40
    return bytes(data)


def png_with_exif(size: int) -> bytes:
    """Return a PNG whose eXIf chunk is about `size` bytes."""
    exif = Image.Exif()
    exif[0x010F] = "X" * size
    return png(photo_like((64, 64)), exif=exif)


def corrupt_heic() -> bytes:
    """Return a HEIC whose boxes are there but whose coded image is overwritten."""
    data = bytearray(heic())
    mdat = data.find(b"mdat")
    data[mdat + 8 :] = b"\xa5" * (len(data) - mdat - 8)
    return bytes(data)


def animated(fmt: str, frames: int = 3, **options: object) -> bytes:
    """Return an animation in a format (GIF, PNG, WEBP) with a few frames."""
    images = [Image.new("RGB", (64, 64), c) for c in ("red", "green", "blue")[:frames]]
    return _save(images[0], fmt, save_all=True, append_images=images[1:], duration=100, loop=0)


def multi_frame_tiff() -> bytes:
    """Return a TIFF with two pages."""
    return animated("TIFF", frames=2)


def pdf() -> bytes:
    """Return a small PDF document."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R"
        b"/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def zip_archive() -> bytes:
    """Return a zip archive holding an HTML page."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<script>alert(1)</script>")
    return buffer.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<script>alert(document.domain)</script><rect width="64" height="64"/></svg>'
)


def corpus(max_bytes: int, max_photos: int) -> list[HostileFile]:
    """Return every hostile file, sized against the portal's limits."""
    valid = jpeg()
    jpeg_data = jpeg((800, 600))
    png_data = png(photo_like((300, 200)))
    heic_data = heic()
    webp_data = webp()
    return [
        HostileFile("html-named-jpg", "photo.jpg", HTML, "not_image"),
        HostileFile("pdf-named-jpg", "scan.jpg", pdf(), "not_image"),
        HostileFile(
            "elf-named-png",
            "image.png",
            b"\x7fELF\x02\x01\x01" + bytes(600),
            "not_image",
            "image/png",
        ),
        HostileFile("zip-named-heic", "IMG_0001.heic", zip_archive(), "not_image", "image/heic"),
        HostileFile("svg-with-script", "drawing.svg", SVG, "not_image", "image/svg+xml"),
        HostileFile("svg-named-jpg", "map.jpg", SVG, "not_image"),
        HostileFile("truncated-jpeg", "cut.jpg", jpeg_data[: len(jpeg_data) // 2], "not_image"),
        HostileFile(
            "truncated-png", "cut.png", png_data[: len(png_data) // 2], "not_image", "image/png"
        ),
        HostileFile("corrupt-webp", "noise.webp", corrupt_webp(), "not_image", "image/webp"),
        HostileFile(
            "truncated-webp",
            "cut.webp",
            webp_data[: len(webp_data) // 2],
            "not_image",
            "image/webp",
        ),
        HostileFile(
            "truncated-heic",
            "cut.heic",
            heic_data[: len(heic_data) // 2],
            "not_image",
            "image/heic",
        ),
        HostileFile("corrupt-heic", "noise.heic", corrupt_heic(), "not_image", "image/heic"),
        HostileFile(
            "png-bomb", "bomb.png", png_claiming(60_000, 60_000), "too_many_pixels", "image/png"
        ),
        HostileFile(
            "png-over-pixel-limit",
            "wide.png",
            png_claiming(12_000, 12_000),
            "too_many_pixels",
            "image/png",
        ),
        HostileFile(
            "gif-bomb", "bomb.gif", gif_claiming(65_535, 65_535), "too_many_pixels", "image/gif"
        ),
        HostileFile(
            "jpeg-claiming-huge", "huge.jpg", jpeg_claiming(65_000, 65_000), "too_many_pixels"
        ),
        HostileFile("polyglot-html-after-jpeg", "poly.jpg", valid + HTML, "hidden_content"),
        HostileFile("polyglot-html-after-png", "poly.png", png_data + HTML, "hidden_content"),
        HostileFile("polyglot-html-after-webp", "poly.webp", webp_data + HTML, "hidden_content"),
        HostileFile("polyglot-html-after-heic", "poly.heic", heic_data + HTML, "hidden_content"),
        HostileFile(
            "polyglot-script-in-comment",
            "comment.jpg",
            jpeg_with_segments(0xFE, b"<script>alert(1)</script>", 1),
            "hidden_content",
        ),
        HostileFile(
            "polyglot-script-in-png-text",
            "text.png",
            png(photo_like((64, 64)), pnginfo=_pnginfo("Comment", "<script>alert(1)</script>")),
            "hidden_content",
            "image/png",
        ),
        HostileFile(
            "enormous-exif", "exif.jpg", jpeg_with_segments(0xE1, exif_block(), 20), "metadata"
        ),
        HostileFile("png-huge-exif", "exif.png", png_with_exif(300_000), "metadata", "image/png"),
        HostileFile(
            "segment-flood", "flood.jpg", jpeg_with_segments(0xE2, b"ab", 5000), "metadata"
        ),
        HostileFile("zero-bytes", "empty.jpg", b"", "empty"),
        HostileFile(
            "over-size-limit", "big.jpg", valid + bytes(max_bytes + 1 - len(valid)), "too_large"
        ),
        HostileFile("animated-gif", "anim.gif", animated("GIF"), "unsupported", "image/gif"),
        HostileFile(
            "multi-frame-tiff", "pages.tiff", multi_frame_tiff(), "unsupported", "image/tiff"
        ),
        HostileFile("animated-png", "anim.png", animated("PNG"), "animated", "image/png"),
        HostileFile("animated-webp", "anim.webp", animated("WEBP"), "animated", "image/webp"),
        HostileFile("valid-jpeg-sent-as-html", "photo.jpg", valid, "content_type", "text/html"),
        HostileFile("path-traversal-name", "../../etc/passwd.jpg", valid, "file_name"),
        # As written in the multipart header, where a backslash escapes the next character.
        HostileFile(
            "backslash-traversal-name", "..\\\\..\\\\windows\\\\win.ini.jpg", valid, "file_name"
        ),
        HostileFile("nul-in-name", "photo\x00.php.jpg", valid, "request_nul"),
        HostileFile("control-characters-in-name", "photo\x1b[2J\x07.jpg", valid, "file_name"),
    ]


def _pnginfo(key: str, value: str):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


def too_many(max_photos: int) -> list[HostileFile]:
    """Return one more genuine photo than a report may carry."""
    return [
        HostileFile(f"photo-{n}", f"photo-{n}.jpg", jpeg((32 + n, 32)), "too_many")
        for n in range(max_photos + 1)
    ]


def mpo(colour: tuple[int, int, int]) -> bytes:
    """Return a JPEG followed by a second image, as phones write an HDR gain map (MPO)."""
    main, gain_map = Image.new("RGB", (64, 48), colour), Image.new("L", (32, 24), 200)
    return _save(main, "MPO", save_all=True, append_images=[gain_map.convert("RGB")])


def awkward_images() -> dict[str, tuple[bytes, tuple[int, int, int]]]:
    """Return genuine photos in odd modes, with the colour their centre must show."""
    orange = (255, 128, 0)
    cmyk = Image.new("RGB", (64, 48), orange).convert("CMYK")
    deep = Image.new("I;16", (64, 48), 40_000)  # 16-bit grey at 61%: must not turn white
    grey16 = int(40_000 / 65_535 * 255)
    palette = Image.new("RGB", (64, 48), orange).convert("P")
    return {
        "cmyk-jpeg": (_save(cmyk, "JPEG", quality=95), orange),
        "16-bit-png": (_save(deep, "PNG"), (grey16, grey16, grey16)),
        "palette-png": (_save(palette, "PNG"), orange),
        "grey-jpeg": (_save(Image.new("L", (64, 48), 90), "JPEG", quality=95), (90, 90, 90)),
        "1-bit-png": (_save(Image.new("1", (64, 48), 1), "PNG"), (255, 255, 255)),
        "mpo-with-gain-map": (mpo(orange), orange),
        "rgba-webp": (
            _save(Image.new("RGBA", (64, 48), (*orange, 255)), "WEBP", lossless=True),
            orange,
        ),
    }
