"""Released migrations are frozen: the SQL files they apply never change.

Every revision in alembic/versions/ declares the files it applies as module-level
tuples named UPGRADE_FILES or DOWNGRADE_FILES (optionally with a suffix, such as
UPGRADE_FILES_BEFORE_PGMQ), relative to sql/. alembic/sql.sha256 lists each of them
with its sha256 (`sha256sum` format). `check()` reports a changed, missing, unlisted
or stale file; `freeze()` (scripts/freeze-migrations) adds a NEW revision's files to
the list and refuses to re-record a listed one. A change to a released file belongs in
a new file applied by a new migration; a function whose signature or meaning changes
gets a versioned name (detect_runway_v2).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

CHECKSUMS = "sql.sha256"
DECLARATION = re.compile(r"^(UPGRADE|DOWNGRADE)_FILES(_[A-Z0-9_]+)?$")
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_SQL_LITERAL = re.compile(r"^[\w./-]+\.sql$")
FROZEN = ("sql/{file} is applied by released migration {rev}: do not edit it; put the change "
          "in a new file applied by a new migration (see docs/ARCHITECTURE.md)")
HEADER = """\
# SQL files applied by alembic revisions, with their sha256 (paths relative to sql/).
# A SQL file applied by a released migration is frozen: do not edit a file listed here.
# A change is a new file applied by a new migration; a function whose signature or
# meaning changes gets a versioned name (detect_runway_v2). See docs/ARCHITECTURE.md.
# Checked by tests/unit/test_migrations_frozen.py. When you add a NEW revision, run
# scripts/freeze-migrations to add its files here. Lines starting with # are comments.
"""

_loads = itertools.count()   # each load gets a fresh module name (tests load copies)


@dataclass(frozen=True)
class Problem:
    file: str       # relative to sql/ ("" for a problem with a revision or the list itself)
    message: str


@dataclass(frozen=True)
class Revision:
    revision: str
    path: Path
    declared: dict[str, tuple[str, ...]]     # UPGRADE_FILES... name -> files

    @property
    def files(self) -> list[str]:
        return [f for files in self.declared.values() for f in files]


def load_revisions(alembic_dir: Path) -> list[Revision]:
    """Every revision module under alembic_dir/versions, in file-name order."""
    out = []
    for path in sorted((alembic_dir / "versions").glob("*.py")):
        spec = importlib.util.spec_from_file_location(
            f"_soar_frozen_{next(_loads)}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        declared = {name: value for name, value in vars(module).items()
                    if DECLARATION.match(name)}
        out.append(Revision(module.revision, path, declared))
    return out


def applied_files(revisions: list[Revision]) -> dict[str, str]:
    """Each declared file -> the first revision that applies it, in revision order."""
    out: dict[str, str] = {}
    for rev in revisions:
        for f in rev.files:
            out.setdefault(f, rev.revision)
    return out


def read_checksums(path: Path) -> tuple[dict[str, str], list[Problem]]:
    listed: dict[str, str] = {}
    problems = []
    if not path.is_file():
        return listed, [Problem("", f"{path} is missing: run scripts/freeze-migrations")]
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            problems.append(Problem("", f"alembic/{CHECKSUMS} line {n} is not `<sha256>  <file>`"))
        else:
            listed[m.group(2)] = m.group(1).lower()
    return listed, problems


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _undeclared_literals(rev: Revision) -> list[str]:
    """.sql names written in the module's code but not in its declared tuples: a file
    applied outside the declarations would escape the check."""
    tree = ast.parse(rev.path.read_text(encoding="utf-8"))
    found = {node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and _SQL_LITERAL.match(node.value)}
    return sorted(found - set(rev.files))


def check(alembic_dir: Path, sql_dir: Path) -> list[Problem]:
    """Everything wrong with the frozen files of the revisions in alembic_dir, whose SQL
    is in sql_dir; [] when all is well."""
    problems: list[Problem] = []
    revisions = load_revisions(alembic_dir)
    for rev in revisions:
        if not any(name.startswith("UPGRADE_FILES") for name in rev.declared):
            problems.append(Problem("", f"{rev.path.name}: declare the SQL files revision "
                                        f"{rev.revision} applies as UPGRADE_FILES "
                                        "(and DOWNGRADE_FILES), () if none"))
        for name, files in rev.declared.items():
            if not (isinstance(files, tuple) and all(isinstance(f, str) for f in files)):
                problems.append(Problem("", f"{rev.path.name}: {name} must be a tuple of "
                                            "paths relative to sql/"))
        for f in _undeclared_literals(rev):
            problems.append(Problem(f, f"{rev.path.name} names sql/{f} outside its "
                                       "UPGRADE_FILES/DOWNGRADE_FILES tuples: declare it there"))
    if problems:
        return problems
    applied = applied_files(revisions)
    listed, list_problems = read_checksums(alembic_dir / CHECKSUMS)
    problems += list_problems
    for f, rev in applied.items():
        path = sql_dir / f
        if not path.is_file():
            problems.append(Problem(f, f"sql/{f} is applied by migration {rev} but does not exist"))
        elif f not in listed:
            problems.append(Problem(f, f"sql/{f} is applied by migration {rev} but is not listed "
                                       f"in alembic/{CHECKSUMS}: for a new revision, run "
                                       "scripts/freeze-migrations"))
        elif sha256(path) != listed[f]:
            problems.append(Problem(f, FROZEN.format(file=f, rev=rev)))
    for f in listed:
        if f not in applied:
            problems.append(Problem(f, f"alembic/{CHECKSUMS} lists sql/{f}, which no revision "
                                       "applies: a released migration must not change; if an "
                                       "unreleased revision dropped it, run "
                                       "scripts/freeze-migrations"))
    return problems


def render(applied: dict[str, str], sql_dir: Path) -> str:
    """The checksum list: grouped by the first revision that applies each file."""
    out = [HEADER]
    last = None
    for f, rev in applied.items():
        if rev != last:
            out.append(f"\n# revision {rev}\n")
            last = rev
        out.append(f"{sha256(sql_dir / f)}  {f}\n")
    return "".join(out)


def freeze(alembic_dir: Path, sql_dir: Path, *, check_only: bool = False,
           force: bool = False) -> tuple[bool, list[str]]:
    """Rewrite alembic/sql.sha256 from the revisions' declared files. Returns (ok,
    lines to print). Refuses (ok False) to re-record a listed file unless `force`
    (only for a revision never released); with `check_only`, writes nothing and is
    not ok when the list is out of date."""
    applied = applied_files(load_revisions(alembic_dir))
    missing = [f for f in applied if not (sql_dir / f).is_file()]
    if missing:
        return False, [f"sql/{f} is applied by migration {applied[f]} but does not exist"
                       for f in missing]
    target = alembic_dir / CHECKSUMS
    listed, _ = read_checksums(target)
    changed = [f for f in applied if f in listed and sha256(sql_dir / f) != listed[f]]
    if changed and not force:
        return False, [FROZEN.format(file=f, rev=applied[f]) for f in changed] + [
            "(--force records the new checksums: only for a revision never released)"]
    text = render(applied, sql_dir)
    old = target.read_text(encoding="utf-8") if target.exists() else None
    if text == old:
        return True, [f"{target}: up to date ({len(applied)} files)"]
    if check_only:
        return False, [f"{target} is out of date: run scripts/freeze-migrations"]
    target.write_text(text, encoding="utf-8")
    added = sorted(set(applied) - set(listed))
    removed = sorted(set(listed) - set(applied))
    return True, [f"{target}: {len(applied)} files"
                  + (f"; added {', '.join(added)}" if added else "")
                  + (f"; removed {', '.join(removed)}" if removed else "")
                  + (f"; re-recorded {', '.join(changed)}" if changed else "")]
