"""The suite runs from a plain clone: no test, benchmark or tool reads a folder beside the
checkout (the project's machines once had ../shared/data; a clone does not)."""

from __future__ import annotations

import re
from pathlib import Path

from helpers.paths import TEST_DATA

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared|SHARED_DATA|parents\[2\] / \"shared\"")


def test_no_source_file_reads_a_folder_beside_the_checkout():
    offenders = []
    for folder in ("soar", "worker", "bench", "scripts", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in {".py", ".sh", ""} or not path.is_file() or path == Path(__file__):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            offenders += [f"{path.relative_to(ROOT)}:{n}" for n, line in
                          enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert offenders == []


def test_every_recording_named_in_the_data_readme_is_in_the_repository():
    readme = (TEST_DATA / "README.md").read_text(encoding="utf-8")
    named = re.findall(r"^\| `([^`*]+)`", readme, flags=re.M)
    assert len(named) == 3      # the CSV and the two ulss7 files; the globbed rows below
    for name in named:
        assert (TEST_DATA / name).is_file(), name
    assert len(list((TEST_DATA / "ogn" / "valid_messages").glob("*.txt"))) == 34
    assert len(list((TEST_DATA / "pelias").glob("reverse-*.json"))) == 3
