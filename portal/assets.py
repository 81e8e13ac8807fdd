"""Static files at versioned addresses cached for a year, and every text answer compressed.

WhiteNoise serves /static/ before Flask. Each file is served under its plain name and under
a versioned name carrying the first 12 hex digits of its SHA-256 (css/site.0123456789ab.css),
which url_for('static', …) gives out: a versioned answer is cached for a year as immutable,
since new content means a new address. The plain name, and a versioned name whose content
has changed since (a page kept by a browser across a deploy), still answer, cached briefly.

Brotli and gzip copies of the text files are made at start-up into STATIC_CACHE_DIR, named
by content hash, so a deploy never serves a stale copy and the workers share one set; a
read-only disk only means uncompressed files. Pages, JSON and GeoJSON are compressed by
Flask-Compress, streamed exports chunk by chunk so that they stay streamed.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from wsgiref.headers import Headers

import brotli
from flask import Flask
from flask_compress import Compress
from werkzeug.http import parse_accept_header
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor
from whitenoise.responders import StaticFile
from whitenoise.string_utils import decode_path_info

ONE_YEAR = 31_536_000
# Shorter bodies are sent as they are (Flask-Compress's default floor).
MIN_SIZE = 500
# A plain or outdated address: the browser asks again soon (a 304 when nothing changed).
SHORT_AGE = 300
DIGITS = 12
VERSIONED = re.compile(rf"(?P<stem>.+)\.[0-9a-f]{{{DIGITS}}}(?P<suffix>\.[A-Za-z0-9]+)")
# Text formats: images (PNG, JPEG) are compressed already.
COMPRESSIBLE = (".css", ".js", ".json", ".geojson", ".svg", ".ico", ".txt")
# Answers Flask-Compress compresses: its defaults, with GeoJSON.
DYNAMIC_TYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "text/csv",
    "text/xml",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/geo+json",
    "application/xml",
    "application/atom+xml",
    "image/svg+xml",
]


def negotiate(accept_encoding: str, size: int) -> str | None:
    """Return the encoding to send a body of `size` bytes in: br or gzip as the client
    accepts them (br first at equal preference), None for as is."""
    if size < MIN_SIZE:
        return None
    accepted = parse_accept_header(accept_encoding)
    quality = {name: accepted.quality(name) for name in ("br", "gzip")}
    best = max(quality, key=lambda name: quality[name])  # br wins a tie: listed first
    return best if quality[best] > 0 else None


def encode(data: bytes, encoding: str, config: Mapping) -> bytes:
    """Compress a body as Flask-Compress would, at the app's configured levels."""
    if encoding == "br":
        return brotli.compress(data, quality=config.get("COMPRESS_BR_LEVEL", 4))
    return gzip.compress(data, config.get("COMPRESS_LEVEL", 6), mtime=0)


@functools.lru_cache(maxsize=1024)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """Return the SHA-256 of a file's content (kept while its time and size stay)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def file_digest(path: str) -> str:
    """Return the SHA-256 of a file, read once per change of the file."""
    stat = os.stat(path)
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def versioned(name: str, digest: str) -> str:
    """Return a file name with the start of its content's digest before the extension."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or "/" in suffix:
        return f"{name}.{digest[:DIGITS]}"
    return f"{stem}.{digest[:DIGITS]}.{suffix}"


def _write_once(target: Path, make: Callable[[], bytes | None]) -> bool:
    """Write a file made by `make` unless it exists; tell whether it exists afterwards.

    Written under a temporary name and renamed, so workers starting together never read
    half a file; `make` returns None when the copy is not worth keeping.
    """
    if target.exists():
        return True
    data = make()
    if data is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.replace(temporary, target)
    return True


def compressed_copies(path: str, digest: str, cache_dir: Path) -> dict[str, str]:
    """Return the Brotli and gzip copies of a text file by encoding, made if missing.

    A copy less than 5% smaller than the file is not made (WhiteNoise's own rule)."""
    if not path.endswith(COMPRESSIBLE):
        return {}
    data: list[bytes] = []

    def content() -> bytes:
        if not data:
            data.append(Path(path).read_bytes())
        return data[0]

    def worth(encoded: bytes) -> bytes | None:
        return encoded if len(encoded) <= 0.95 * len(content()) else None

    copies = {}
    for encoding, suffix, encode in (
        ("br", "br", Compressor.compress_brotli),
        ("gzip", "gz", Compressor.compress_gzip),
    ):
        target = cache_dir / digest[:2] / f"{digest}.{suffix}"
        try:
            if _write_once(target, lambda encode=encode: worth(encode(content()))):
                copies[encoding] = str(target)
        except OSError:
            continue  # a read-only or full disk: the file goes out uncompressed
    return copies


class StaticFiles(WhiteNoise):
    """WhiteNoise with versioned addresses, compressed copies kept out of the source tree
    and the portal's security headers on every file.

    Static files are public and the same for every host: they are served before the
    TRUSTED_HOSTS check, which only guards what builds links."""

    def __init__(
        self,
        application: Callable,
        root: str,
        prefix: str,
        cache_dir: Path,
        headers: Iterable[tuple[str, str]],
    ) -> None:
        self.cache_dir = cache_dir
        self.extra_headers = list(headers)
        self.prefix = "/" + prefix.strip("/") + "/"
        self.names: dict[str, str] = {}  # "css/site.css" -> "css/site.0123456789ab.css"
        self.versioned_urls: set[str] = set()
        self.copies: dict[str, dict[str, str]] = {}
        super().__init__(application, max_age=SHORT_AGE, allow_all_origins=False)
        self.add_files(root, prefix=self.prefix)

    def add_file_to_dictionary(self, url: str, path: str, stat_cache: dict | None = None) -> None:
        """Add a file under its plain and its versioned address."""
        if self.is_compressed_variant(path, stat_cache=stat_cache):
            return
        digest = file_digest(path)
        self.copies[path] = compressed_copies(path, digest, self.cache_dir)
        super().add_file_to_dictionary(url, path, stat_cache)
        name = url[len(self.prefix) :]
        self.names[name] = versioned(name, digest)
        versioned_url = self.prefix + self.names[name]
        self.versioned_urls.add(versioned_url)
        super().add_file_to_dictionary(versioned_url, path, stat_cache)

    def get_static_file(self, path: str, url: str, stat_cache: dict | None = None) -> StaticFile:
        """Describe one file, with its compressed copies from the cache folder."""
        headers = Headers([])
        self.add_mime_headers(headers, path, url)
        self.add_cache_headers(headers, path, url)
        for name, value in self.extra_headers:
            headers[name] = value
        # The copies live outside the scanned folder: stat them, not the folder's listing.
        return StaticFile(path, headers.items(), encodings=self.copies.get(path))

    def add_cache_headers(self, headers: Headers, path: str, url: str) -> None:
        """Cache a versioned address for a year, any other briefly."""
        if url in self.versioned_urls:
            headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
        else:
            headers["Cache-Control"] = f"public, max-age={SHORT_AGE}"

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """Serve a static file (an outdated version as the current file, cached briefly),
        with HSTS over HTTPS; pass anything else on."""
        path = decode_path_info(environ.get("PATH_INFO", ""))
        if not path.startswith(self.prefix):
            return self.application(environ, start_response)
        static_file = self.files.get(path)
        if static_file is None:
            old = VERSIONED.fullmatch(path)
            if old is not None:
                static_file = self.files.get(old["stem"] + old["suffix"])
        if static_file is None:
            return self.application(environ, start_response)
        if environ.get("wsgi.url_scheme") != "https":
            return self.serve(static_file, environ, start_response)

        def with_hsts(status: str, headers: list, exc_info: object = None) -> Callable:
            hsts = ("Strict-Transport-Security", f"max-age={ONE_YEAR}")
            return start_response(status, [*headers, hsts], exc_info)

        return self.serve(static_file, environ, with_hsts)

    def url_name(self, filename: str) -> str:
        """Return the versioned name of a static file, or the name itself if unknown."""
        return self.names.get(filename, filename)


EXTENSION = "portal_static_files"


def init_app(app: Flask) -> None:
    """Serve static files through WhiteNoise at versioned addresses and compress answers."""
    from portal.web import security_header_items

    app.config.setdefault("COMPRESS_MIMETYPES", DYNAMIC_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    # Streamed exports stay streamed: compressed chunk by chunk, never buffered.
    app.config.setdefault("COMPRESS_STREAMS", True)
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "gzip"])
    Compress(app)
    cache_dir = Path(app.config["STATIC_CACHE_DIR"])
    static = StaticFiles(
        app.wsgi_app,
        app.static_folder or "",
        app.static_url_path or "/static",
        cache_dir,
        security_header_items(app.config["MAP_TILE_URL"], secure=False),
    )
    app.wsgi_app = app.extensions[EXTENSION] = static

    @app.url_defaults
    def versioned_static(endpoint: str, values: dict) -> None:
        """Give url_for('static', …) the file's versioned name."""
        if endpoint == "static" and "filename" in values:
            values["filename"] = static.url_name(values["filename"])
