"""`setup-pgbouncer ENV`: PgBouncer per environment, as the production fix set it up.

One PgBouncer per environment (production on 6432, staging on 6433), transaction
pooling, in front of the PostgreSQL named by the environment's file
(`/etc/soar/env`, `/etc/soar/env-staging`): its `SOAR_DATABASE_URL` is the direct
login that migrations and administration keep using; the component logins
(`SOAR_INGEST_DATABASE_URL`, ...) name the roles PgBouncer lets through, read from
that file or from the services' own files (`/etc/soar/ingest.env`,
`/etc/soar/worker.env`; `-staging` before `.env` for staging), which are all a service
loads: no service sees the owner's login.

Rules this module enforces:
- **No password passes through here.** The userlist holds the server's own SCRAM
  verifiers, read from `pg_authid` with the direct login: PgBouncer checks a client's
  SCRAM proof against them and logs in to the server by SCRAM pass-through, so the
  secrets on disk are the ones PostgreSQL already stores and no plain password is
  written, printed or put on a command line. A role whose stored password is not a
  SCRAM verifier is an error naming the fix. `--dry-run` prints every file with the
  verifiers masked.
- **Idempotent.** A file whose content is already right is left alone (not even its
  time touched); the others are written atomically (a temporary file renamed over).
- **Least privilege on disk.** The userlist is 0640 and the configuration 0644, both
  owned by root with group `postgres` (the user PgBouncer runs as) where it exists.
"""

from __future__ import annotations

import grp
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from soar.errors import SoarError, last_line

# Each environment: its listening port and where its settings live.
ENVIRONMENTS = {"production": 6432, "staging": 6433}
COMPONENT_KEYS = {"ingest": "SOAR_INGEST_DATABASE_URL", "worker": "SOAR_WORKER_DATABASE_URL",
                  "readonly": "SOAR_READONLY_DATABASE_URL"}
_SCRAM = re.compile(r"^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")
MASK = "SCRAM-SHA-256$<masked>"


@dataclass(frozen=True)
class PoolSettings:
    """The pool sizes of the production fix; one server pool per (database, role)."""
    default_pool_size: int = 50          # server connections per role when busy
    min_pool_size: int = 10              # kept open, so a burst does not wait for logins
    reserve_pool_size: int = 10          # extra connections for a pool whose clients wait...
    reserve_pool_timeout_s: int = 3      # ...longer than this
    # Clients, not servers: ingest shards, worker threads and the statistics commands
    # of every host; each idle client costs PgBouncer ~2 KB.
    max_client_conn: int = 2000
    server_idle_timeout_s: int = 600     # close a server connection idle this long
    # A client that waits this long for a server connection gets an error instead of
    # hanging: the writer retries, the worker backs off.
    query_wait_timeout_s: int = 120
    server_connect_timeout_s: int = 15
    server_lifetime_s: int = 3600        # recycle connections (memory, pg_hba changes)


@dataclass
class Plan:
    """What setup would write: path -> content, and the same with secrets masked."""
    env: str
    port: int
    files: dict[Path, str] = field(default_factory=dict)
    shown: dict[Path, str] = field(default_factory=dict)
    modes: dict[Path, int] = field(default_factory=dict)


def env_file(env: str, prefix: Path = Path("/")) -> Path:
    """The owner's file: SOAR_DATABASE_URL, read by migrations and setup-pgbouncer only."""
    return prefix / "etc/soar" / ("env" if env == "production" else f"env-{env}")


# The services' own files, each with only its component's login (deploy/*.service).
SERVICE_FILES = {"ingest": "SOAR_INGEST_DATABASE_URL", "worker": "SOAR_WORKER_DATABASE_URL"}


def service_env_file(env: str, component: str, prefix: Path = Path("/")) -> Path:
    """/etc/soar/ingest.env, /etc/soar/worker-staging.env...: what one service loads."""
    suffix = "" if env == "production" else f"-{env}"
    return prefix / "etc/soar" / f"{component}{suffix}.env"


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a systemd EnvironmentFile, read as systemd reads it (so what
    setup-pgbouncer sees is what the services get): see `parse_env_text`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SoarError(f"{path} not found: write SOAR_DATABASE_URL (the direct login) and "
                        "the component logins there first (docs/operations.md)") from None
    except PermissionError:
        raise SoarError(f"cannot read {path}: run setup-pgbouncer as root") from None
    except UnicodeDecodeError:
        raise SoarError(f"{path} is not UTF-8 text; systemd ignores such values: fix the "
                        "file's encoding") from None
    return parse_env_text(text, str(path))


_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SHELL_NEED_ESCAPE = "\"\\`$"


def parse_env_text(text: str, where: str = "environment file") -> dict[str, str]:
    r"""KEY=VALUE assignments by systemd's rules for EnvironmentFile (env-file.c): `#`
    or `;` starts a comment line; whitespace around the key and before the value is
    dropped; an unquoted value runs to the end of the line, inner spaces kept,
    trailing whitespace dropped, a backslash takes the next character literally and a
    trailing backslash continues the value on the next line; '...' is literal;
    "..." unescapes \\ \" \` \$ (a backslash before anything else stays) and may
    span lines; quoted and unquoted parts join (`A="x y"z` is `x yz`); a later
    assignment of a key replaces an earlier one.

    Where systemd would silently ignore a line (no `=`, a key that is no variable
    name) or where systemd versions disagree (a comment ending in a backslash), this
    refuses it with a one-line SoarError naming the line and the fix; an unclosed
    quote at the end of the file too.
    """
    out: dict[str, str] = {}
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    trailing = None            # start of the unquoted value's trailing whitespace
    line = start = 1
    quote_line = 0

    def push() -> None:
        name = "".join(key).rstrip(" \t")
        if not _ENV_KEY.match(name):
            raise SoarError(f"{where}:{start}: {name!r} is not a variable name (letters, "
                            "digits, _; not starting with a digit): fix that line")
        text = "".join(value if trailing is None else value[:trailing])
        out[name] = text

    for c in text:
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in " \t\n\r":
                state, key, start = "key", [c], line
        elif state == "key":
            if c in "\n\r":
                raise SoarError(f"{where}:{start}: not KEY=VALUE (systemd would ignore it); "
                                "fix or remove that line")
            if c == "=":
                state, value, trailing = "pre_value", [], None
            else:
                key.append(c)
        elif state == "pre_value":
            if c in "\n\r":
                push()
                state = "pre_key"
            elif c == "'":
                state, quote_line = "single", line
            elif c == '"':
                state, quote_line = "double", line
            elif c == "\\":
                state = "escape"
            elif c not in " \t":
                state, trailing = "value", None
                value.append(c)
        elif state == "value":
            if c in "\n\r":
                push()
                state = "pre_key"
            elif c == "\\":
                state, trailing = "escape", None
            else:
                if c not in " \t":
                    trailing = None
                elif trailing is None:
                    trailing = len(value)
                value.append(c)
        elif state == "escape":
            state = "value"
            if c not in "\n\r":
                value.append(c)
        elif state == "single":
            if c == "'":
                state = "pre_value"
            else:
                value.append(c)
        elif state == "double":
            if c == '"':
                state = "pre_value"
            elif c == "\\":
                state = "double_escape"
            else:
                value.append(c)
        elif state == "double_escape":
            state = "double"
            if c in _SHELL_NEED_ESCAPE:
                value.append(c)
            elif c != "\n":
                value += ["\\", c]
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c in "\n\r":
                state = "pre_key"
        elif state == "comment_escape":
            if c in "\n\r":
                raise SoarError(f"{where}:{line}: a comment ending in a backslash (systemd "
                                "before 254 joins the next line to it, later ones do not): "
                                "remove the backslash")
            state = "comment"
        if c == "\n":
            line += 1
    if state in ("single", "double", "double_escape"):
        raise SoarError(f"{where}:{quote_line}: a quote opened here is never closed; close it")
    if state == "key":
        raise SoarError(f"{where}:{start}: not KEY=VALUE (systemd would ignore it); fix or "
                        "remove that line")
    if state in ("pre_value", "value", "escape"):
        push()
    return out


def _params(url: str, key: str, path: Path) -> dict:
    try:
        return conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise SoarError(f"{path}: {key} is not a valid database URL; fix it") from None


def _database_line(params: dict) -> str:
    host = params.get("host") or "/var/run/postgresql"
    parts = [f"host={host}", f"port={params.get('port') or 5432}",
             f"dbname={params.get('dbname') or params.get('user') or 'soar'}"]
    return " ".join(parts)


def _check_value(what: str, value: str) -> str:
    # Values go into an ini file and a userlist: nothing that could start a new entry.
    if not re.fullmatch(r"[A-Za-z0-9_./:-]+", value):
        raise SoarError(f"{what} {value!r} has characters PgBouncer's files cannot hold; "
                        "use letters, digits, _ . / : -")
    return value


def verifiers(admin_url: str, roles: list[str]) -> dict[str, str]:
    """The SCRAM verifier PostgreSQL stores for each role (needs a superuser login)."""
    try:
        with psycopg.connect(admin_url, connect_timeout=10) as conn:
            rows = conn.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
                                (roles,)).fetchall()
    except psycopg.errors.InsufficientPrivilege:
        raise SoarError("SOAR_DATABASE_URL must be a superuser login to read the roles' SCRAM "
                        "verifiers (pg_authid)") from None
    except psycopg.OperationalError as exc:
        raise SoarError(f"cannot connect with SOAR_DATABASE_URL: {last_line(exc)}; check the "
                        "environment file and that the server is up") from None
    found = dict(rows)
    out = {}
    for role in roles:
        if role not in found:
            raise SoarError(f"role {role!r} does not exist: run `soar db upgrade`, then create its "
                            f"login (docs/operations.md)")
        secret = found[role] or ""
        if not _SCRAM.match(secret):
            raise SoarError(f"role {role!r} has no SCRAM password: with password_encryption = "
                            f"'scram-sha-256', run \\password {role} in psql, then run this again")
        out[role] = secret
    return out


def plan(env: str, prefix: Path = Path("/"), *, port: int | None = None,
         pools: PoolSettings | None = None, pgbouncer_exe: str = "/usr/sbin/pgbouncer") -> Plan:
    """Read the environment file and the verifiers; return the files to write."""
    if env not in ENVIRONMENTS:
        raise SoarError(f"unknown environment {env!r}: use one of {', '.join(ENVIRONMENTS)}")
    pools = pools or PoolSettings()
    port = port or ENVIRONMENTS[env]
    source = env_file(env, prefix)
    values = read_env_file(source)
    admin = values.get("SOAR_DATABASE_URL")
    if not admin:
        raise SoarError(f"{source}: SOAR_DATABASE_URL (the direct login to PostgreSQL) is missing")
    target = _params(admin, "SOAR_DATABASE_URL", source)
    # A component login not in the owner's file comes from its service's own file.
    for component, key in SERVICE_FILES.items():
        own = service_env_file(env, component, prefix)
        if not values.get(key) and own.exists():
            value = read_env_file(own).get(key)
            if value:
                values[key] = value
    roles = []
    for component, key in COMPONENT_KEYS.items():
        user = (_params(values[key], key, source).get("user") if values.get(key) else None)
        roles.append(_check_value(f"{key} user", user or f"soar_{component}"))
    dbname = _check_value("database", target.get("dbname") or target.get("user") or "soar")
    database = _database_line(target)
    for value in database.split():
        _check_value("database setting", value.partition("=")[2])
    secrets = verifiers(admin, roles)

    etc = prefix / "etc"
    ini = etc / "pgbouncer" / f"pgbouncer-{env}.ini"
    users = etc / "pgbouncer" / f"userlist-{env}.txt"
    service = etc / "systemd/system" / f"pgbouncer-{env}.service"
    # Paths inside the files are where they are written (--prefix included), so a
    # configuration written under a prefix runs as it is (the tests start it).
    p = Plan(env, port)
    p.files[ini] = _ini(env, port, dbname, database, users, roles[2], pools)
    p.files[users] = "".join(f'"{r}" "{secrets[r]}"\n' for r in roles)
    p.files[service] = unit(env, ini, source, pgbouncer_exe)
    p.shown = dict(p.files)
    p.shown[users] = "".join(f'"{r}" "{MASK}"\n' for r in roles)
    p.modes = {ini: 0o644, users: 0o640, service: 0o644}
    return p


def _ini(env: str, port: int, dbname: str, database: str, users: Path, stats_user: str,
         pools: PoolSettings) -> str:
    return f""";; PgBouncer for soar, environment {env}: written by setup-pgbouncer {env}.
;; Re-run it instead of editing: it rewrites this file.
;; Ingest and workers connect here; migrations and `soar db` administration connect to
;; PostgreSQL directly (DDL and advisory locks need a session).
[databases]
{dbname} = {database}

[pgbouncer]
pool_mode = transaction
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
;; SCRAM only: the userlist holds the server's own verifiers (SCRAM pass-through).
auth_type = scram-sha-256
auth_file = {users}
stats_users = {stats_user}
default_pool_size = {pools.default_pool_size}
min_pool_size = {pools.min_pool_size}
reserve_pool_size = {pools.reserve_pool_size}
reserve_pool_timeout = {pools.reserve_pool_timeout_s}
max_client_conn = {pools.max_client_conn}
server_idle_timeout = {pools.server_idle_timeout_s}
server_lifetime = {pools.server_lifetime_s}
server_connect_timeout = {pools.server_connect_timeout_s}
query_wait_timeout = {pools.query_wait_timeout_s}
;; Transaction pooling: soar keeps no session state (no server-side prepared
;; statements, no LISTEN through PgBouncer), so nothing to reset between clients.
server_reset_query =
ignore_startup_parameters = extra_float_digits,options,application_name
"""


def unit(env: str, ini: Path, source: Path, exe: str) -> str:
    return f"""# PgBouncer for soar, environment {env}: written by setup-pgbouncer {env}.
[Unit]
Description=PgBouncer for soar ({env})
Documentation=man:pgbouncer(1)
After=network-online.target
Wants=network-online.target
# The environment file names the database; changing it means re-running setup.
AssertPathExists={source}

[Service]
Type=notify
User=postgres
ExecStart={exe} {ini}
ExecReload=/bin/kill -HUP $MAINPID
# SIGINT: safe shutdown, waiting for the clients' transactions to finish.
KillSignal=SIGINT
TimeoutStopSec=120
Restart=on-failure
RestartSec=2
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=full
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


def apply(p: Plan) -> list[tuple[Path, str]]:
    """Write the plan's files; returns (path, 'written' | 'unchanged') per file."""
    try:
        gid = grp.getgrnam("postgres").gr_gid if os.geteuid() == 0 else -1
    except KeyError:
        gid = -1
    done = []
    for path, text in p.files.items():
        mode = p.modes[path]
        try:
            if path.is_file() and not path.is_symlink() and path.read_text() == text \
                    and (path.stat().st_mode & 0o777) == mode:
                done.append((path, "unchanged"))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                os.fchmod(fd, mode)
                if gid != -1:
                    os.fchown(fd, 0, gid)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except PermissionError as exc:
            raise SoarError(f"cannot write {path}: {exc.strerror}; run setup-pgbouncer as root "
                            "(or with --prefix DIR)") from None
        done.append((path, "written"))
    return done
