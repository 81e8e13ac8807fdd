"""Rewrite the README's result tables from every results file.

The README keeps its prose; only what lies between the markers
`<!-- bench:summary -->` … `<!-- /bench:summary -->` and `<!-- bench:NAME -->` …
`<!-- /bench:NAME -->` is generated. Each table shows the latest result of every
(row, database, size); older ones stay in `results/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
DATABASE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
SIZES = (10_000, 100_000, 1_000_000)
GROWTH_LIMIT = 2.0
# Rows held to their own growth target (the sweep: 10× open; exports: flat memory).
NO_GROWTH = {"sla sweep"}
# Rows shown beside a target's row for comparison, with no target of their own.
NO_TARGET = {"case page uncached"}
# Rows no longer run, left out of the tables: "queue search" timed the scan of every case
# against the same scan in raw SQL; "search queue" (bench/search.py) replaced it.
RETIRED = {"queue search"}


def latest() -> dict[tuple[str, str, int], dict]:
    """Return the newest result of each (row, database, cases) over every results file."""
    found: dict[tuple[str, str, int], dict] = {}
    for path in sorted(RESULTS.glob("*.json")):
        for result in json.loads(path.read_text()):
            if result["benchmark"] in RETIRED:
                continue
            database = result["database"].split("+")[0]
            found[result["benchmark"], database, result["cases"]] = {
                "date": path.stem,
                **result,
                "database": database,
            }
            if result["benchmark"] in NO_TARGET:
                found[result["benchmark"], database, result["cases"]]["met"] = None
    return found


def _ms(result: dict, side: str) -> str:
    if f"{side}_text" in result:
        return result[f"{side}_text"]
    if f"{side}_p50_ms" not in result:
        return "—"
    return f"{result[f'{side}_p50_ms']:.1f} / {result[f'{side}_p95_ms']:.1f} ms"


def _ratio(result: dict) -> str:
    if "ratio_text" in result:
        return result["ratio_text"]
    if "ratio_p50" not in result:
        return "—"
    return f"{result['ratio_p50']:.2f} / {result['ratio_p95']:.2f}"


def _met(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


def row_table(name: str, results: dict) -> str:
    """Return the table of one row: date, database, cases, portal, reference, ratio, met."""
    lines = [
        "| date | database | cases | portal p50 / p95 | reference p50 / p95 "
        "| ratio p50 / p95 | target met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    mine = sorted(
        (r for (bench, _db, _n), r in results.items() if bench == name),
        key=lambda r: (r["database"] != "sqlite", r["cases"]),
    )
    for r in mine:
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(
            f"| {r['date']} | {DATABASE_NAMES.get(r['database'], r['database'])} "
            f"| {r['cases']:,} | {_ms(r, 'portal')} | {_ms(r, 'raw')} | {_ratio(r)} "
            f"| {_met(r.get('met'))}{note} |"
        )
    return "\n".join(lines)


def growth(results: dict, name: str, database: str) -> float | None:
    """Return how many times the portal's p50 grew from 10,000 to 1,000,000 cases."""
    first, last = results.get((name, database, SIZES[0])), results.get((name, database, SIZES[-1]))
    if first is None or last is None or "portal_p50_ms" not in first or name in NO_GROWTH:
        return None
    return last["portal_p50_ms"] / first["portal_p50_ms"]


def summary(results: dict) -> str:
    """Return the table of every row × database × size: the ratio and whether it is met."""
    names = sorted({b for (b, _d, _n) in results}, key=_order)
    head = [f"{DATABASE_NAMES[d]} {n // 1000:,}k" for d in DATABASE_NAMES for n in SIZES]
    lines = [
        "| row | " + " | ".join(head) + " | growth SQLite | growth PostgreSQL |",
        "| --- |" + " --- |" * (len(head) + 2),
    ]
    for name in names:
        cells = []
        for database in DATABASE_NAMES:
            for n in SIZES:
                r = results.get((name, database, n))
                if r is None:
                    cells.append("—")
                else:
                    mark = {True: "✓", False: "✗", None: ""}[r.get("met")]
                    cells.append(f"{mark} {_summary_cell(r)}".strip())
        for database in DATABASE_NAMES:
            factor = growth(results, name, database)
            if factor is None:
                cells.append("—")
            else:
                cells.append(f"{'✓' if factor < GROWTH_LIMIT else '✗'} {factor:.2f}×")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summary_cell(result: dict) -> str:
    """Return a summary cell: the row's own figure, the p50 ratio, or the p50 time of a row
    without a reference."""
    if result.get("summary_text"):
        return result["summary_text"]
    if "ratio_p50" not in result and "ratio_text" not in result and "portal_p50_ms" in result:
        return f"{result['portal_p50_ms']:.0f} ms"
    return _ratio(result).split(" /")[0]


def _order(name: str) -> tuple[int, str]:
    known = ("geojson", "queue", "kpi", "sla", "export")
    for n, prefix in enumerate(known):
        if name.startswith(prefix):
            return n, name
    return len(known), name


def _replace(text: str, marker: str, body: str) -> str:
    name = re.escape(marker)
    # The body may be empty: markers written by hand next to each other.
    pattern = re.compile(
        rf"(<!-- bench:{name} -->\n)(?:.*?\n)??(<!-- /bench:{name} -->)", re.DOTALL
    )
    if not pattern.search(text):
        return text + f"\n<!-- bench:{marker} -->\n{body}\n<!-- /bench:{marker} -->\n"
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text, count=1)


def rewrite(readme: Path) -> None:
    """Regenerate the summary and every row's table in the README, leaving the prose."""
    results = latest()
    text = _replace(readme.read_text(), "summary", summary(results))
    for name in sorted({b for (b, _d, _n) in results}, key=_order):
        text = _replace(text, name, row_table(name, results))
    readme.write_text(text)
