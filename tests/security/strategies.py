"""Values at the edges of what a parameter can hold, in one place for every fuzzing test: dates
at year 1 and 9999, date-times with odd offsets, 20-digit and negative numbers, characters
outside the Basic Multilingual Plane and lone surrogates, sent percent-encoded or as raw bytes.

A route added to the URL map is walked with them without any change here (test_fuzz_routes).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from urllib.parse import quote

from hypothesis import strategies as st

# The calendar's edges, and dates that only look like dates.
EDGE_DATES = [
    "0001-01-01",
    "0001-01-02",
    "9999-12-31",
    "9999-12-30",
    "0000-01-01",
    "10000-01-01",
    "-0001-01-01",
    "2026-02-29",
    "2024-02-29",
    "2026-13-01",
    "2026-00-10",
    "20261129",
    "1970-01-01",
]
# UTC offsets Python accepts and the world uses, the extremes, seconds, and none at all.
OFFSETS = [
    "",
    "Z",
    "+00:00",
    "-00:00",
    "+14:00",
    "-12:00",
    "+05:45",
    "+05:30",
    "-09:30",
    "+05:45:30",
    "-00:00:01",
    "+23:59",
    "+24:00",
    "+0800",
]
TIMES = ["T00:00:00", "T23:59:59", "T23:59:59.999999", "T12:00", " 08:30:00", "T24:00:00"]
MONTHS = ["0001-01", "9999-12", "2026-00", "2026-13", "99999-01", "0000-00", "2026-1"]
NUMBERS = [
    "99999999999999999999",
    "-99999999999999999999",
    "18446744073709551616",
    "-1",
    "-5",
    "0",
    "-0",
    "1e999",
    "-1e999",
    "NaN",
    "inf",
    "0x10",
    "1_000",
    "٣",
    "³",
    "1.5",
    " 7 ",
]
# Outside the Basic Multilingual Plane: emoji (with modifiers and flags) and CJK Extension B.
NON_BMP = ["😀", "𠀀", "𠀋𡈽", "👍🏽", "🇨🇳", "👨‍👩‍👧", "\U0010ffff", "\U0001f600" * 50]
# Halves of a UTF-16 pair without the other: not text at all once encoded.
LONE_SURROGATES = ["\ud800", "\udfff", "a\udc80b", "\udbff\ud800", "😀\ud83d"]

dates = st.one_of(
    st.sampled_from(EDGE_DATES),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
)
date_times = st.one_of(
    st.builds(
        lambda day, time, offset: day + time + offset,
        st.sampled_from(EDGE_DATES[:4]),
        st.sampled_from(TIMES),
        st.sampled_from(OFFSETS),
    ),
    st.builds(
        lambda moment, offset: moment.isoformat() + offset,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
        st.sampled_from(OFFSETS),
    ),
)
numbers = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
odd_text = st.one_of(
    st.sampled_from(NON_BMP + LONE_SURROGATES),
    st.text(st.characters(min_codepoint=0x10000), min_size=1, max_size=8),
    st.text(st.characters(categories=("Cs",)), min_size=1, max_size=3),
)
lists = st.lists(st.one_of(numbers, dates, odd_text), min_size=2, max_size=4).map(",".join)
extreme_values = st.one_of(
    dates, date_times, st.sampled_from(MONTHS), numbers, odd_text, lists, st.just("")
)


def query_bytes(name: str, value: str, raw: bool) -> bytes:
    """Return `name=value` as a query string: percent-encoded, or the value's bytes as they
    are (lone surrogates encoded as the bytes a careless client would send)."""
    data = value.encode("utf-8", "surrogatepass")
    if not raw:
        return quote(name).encode() + b"=" + quote(data, safe="").encode()
    # Raw, but a query string's own separators still keep their meaning escaped.
    for char in (b"%", b"&", b"=", b"#", b" ", b"+"):
        data = data.replace(char, b"%%%02X" % char[0])
    return quote(name).encode() + b"=" + data


# Generic parameter names every route is also sent, whatever it reads.
GENERIC_NAMES = ("page", "q", "since", "until", "month", "next", "start_date", "end_date", "id")

# How many examples each route was sent in this run (printed in the pytest summary).
examples_per_route: Counter[str] = Counter()
