#!/usr/bin/env bash
# Installs the system packages soar needs on Debian: PostgreSQL server and headers,
# PostGIS, PgBouncer, build tools, and TimescaleDB (the distribution's package where
# one exists, else the Apache-2 edition built from Debian's source package).
# Idempotent: every step checks first and does nothing when already done.
set -euo pipefail

log() { printf 'setup-system: %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup-system: needs root (or sudo) to install packages" >&2; exit 2; }
    SUDO="sudo"
fi

apt_updated=0
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ $apt_updated -eq 0 ]; then
        log "apt-get update"
        $SUDO apt-get update -qq
        apt_updated=1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The PostgreSQL major: the newest server already installed, else the distribution's default.
pg_major() {
    local v
    v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n1)
    if [ -z "$v" ]; then
        [ $apt_updated -eq 1 ] || { $SUDO apt-get update -qq; apt_updated=1; }
        v=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9]\+\)$/\1/p' | head -n1)
    fi
    echo "$v"
}

PG=$(pg_major)
[ -n "$PG" ] || { echo "setup-system: cannot tell which PostgreSQL major to install" >&2; exit 2; }
log "PostgreSQL $PG"

apt_install "postgresql-$PG" "postgresql-server-dev-$PG" "postgresql-$PG-postgis-3" \
    postgresql-contrib pgbouncer build-essential cmake dpkg-dev libssl-dev ca-certificates
# The web pages' browser tests (tests/acceptance/test_web_pages.py): Debian's chromium,
# driven by playwright through executable_path (playwright's own download is not used).
apt_install chromium

PG_CONFIG=/usr/lib/postgresql/$PG/bin/pg_config
EXTDIR=$($PG_CONFIG --sharedir)/extension

if [ -f "$EXTDIR/timescaledb.control" ]; then
    log "TimescaleDB already installed: $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$EXTDIR/timescaledb.control")"
    exit 0
fi

if apt-cache show "postgresql-$PG-timescaledb" >/dev/null 2>&1; then
    apt_install "postgresql-$PG-timescaledb"
    exit 0
fi

# No binary package for this major: build the Apache-2 edition from Debian's source
# package (present in trixie). A deb-src entry only adds sources, never binaries, so
# it cannot change what apt installs.
SRC_LIST=/etc/apt/sources.list.d/soar-timescaledb-src.sources
if ! apt-cache showsrc timescaledb >/dev/null 2>&1 || ! apt-cache showsrc timescaledb | grep -q '^Package: timescaledb'; then
    log "adding a deb-src entry for trixie in $SRC_LIST"
    $SUDO tee "$SRC_LIST" >/dev/null <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    $SUDO apt-get update -qq
fi

BUILD=$(mktemp -d /tmp/soar-timescaledb.XXXXXX)
trap 'rm -rf "$BUILD"' EXIT
BUILD_LOG="$BUILD/build.log"
log "building TimescaleDB (Apache-2 edition) in $BUILD"
if ! (
    cd "$BUILD"
    apt-get source -qq --download-only timescaledb || apt-get source -qq timescaledb
    [ -d timescaledb-*/ ] || dpkg-source -x --no-check ./*.dsc
    cd timescaledb-*/
    ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
        -DPG_CONFIG="$PG_CONFIG"
    cd build
    make -j"$(nproc)"
    $SUDO make install
) >"$BUILD_LOG" 2>&1; then
    tail -n 30 "$BUILD_LOG" >&2
    echo "setup-system: the TimescaleDB build failed (last lines above)" >&2
    exit 1
fi
log "TimescaleDB installed: $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$EXTDIR/timescaledb.control")"
