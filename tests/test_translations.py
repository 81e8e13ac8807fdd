"""Every user-facing string is translated into Chinese."""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
ZH = ROOT / "portal/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def extracted(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def test_every_string_in_the_code_has_a_chinese_translation(tmp_path):
    with ZH.open("rb") as handle:
        catalog = read_po(handle, locale="zh_Hans_CN")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = extracted(tmp_path) - translated
    assert not missing, f"run `make extract` and translate: {sorted(missing)[:10]}"
