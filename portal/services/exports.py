"""Cases as CSV, XLSX and GeoJSON, streamed: rows come from the database a batch at a time.

Each function takes a header and an iterable of rows (a streamed SQLAlchemy result) and yields
the file piece by piece, so an export of a million cases never holds them all in memory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence

from openpyxl import Workbook

BOM = "\ufeff"  # lets Excel read the CSV as UTF-8 (Chinese text)
BATCH = 1000  # rows fetched from the database at a time
CHUNK = 64 * 1024  # bytes sent at a time


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """Yield a CSV file with a UTF-8 byte-order mark, a few hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow(header)
    for n, row in enumerate(rows, start=1):
        writer.writerow(["" if v is None else _safe_cell(v) for v in row])
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _safe_cell(value):
    """Keep a spreadsheet from reading a resident's text as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def xlsx_chunks(title: str, header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[bytes]:
    """Yield an XLSX workbook written in write-only mode to a temporary file, then streamed."""

    def write(path: str) -> None:
        book = Workbook(write_only=True)
        sheet = book.create_sheet(title[:31])
        sheet.append(list(header))
        for row in rows:
            sheet.append([_safe_cell(v) for v in row])
        book.save(path)

    yield from file_chunks(write)


def file_chunks(write: Callable[[str], None]) -> Iterator[bytes]:
    """Yield the bytes of a file that `write` makes at a temporary path, then remove it."""
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        write(path)
        with open(path, "rb") as stream:
            while chunk := stream.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)


def geojson_chunks(features: Iterable[dict]) -> Iterator[str]:
    """Yield a GeoJSON FeatureCollection one feature at a time."""
    yield '{"type": "FeatureCollection", "features": ['
    for n, feature in enumerate(features):
        yield ("," if n else "") + json.dumps(feature, ensure_ascii=False)
    yield "]}\n"
