"""Stored rows as comparable values, for tests that compare two databases.

A fix is its row as JSON with its receiver by name (the id is a sequence's, in the
order the receivers were met); the three fix queries below spell it alike."""

from __future__ import annotations


def stored(conn) -> tuple[list[dict], list[dict]]:
    """Every fix, ordered by aircraft and time; every flight (`stored_flights`)."""
    fixes = conn.execute(
        "SELECT to_jsonb(f) - 'receiver_id' || jsonb_build_object('receiver', r.name) "
        "FROM fixes f LEFT JOIN receivers r ON r.id = f.receiver_id "
        "ORDER BY f.aircraft_id, f.time").fetchall()
    return [r for (r,) in fixes], stored_flights(conn)


def stored_flights(conn) -> list[dict]:
    """Every flight without its row times (created_at, updated_at), ordered by id."""
    flights = conn.execute("SELECT to_jsonb(f) - 'created_at' - 'updated_at' FROM flights f "
                           "ORDER BY id").fetchall()
    return [r for (r,) in flights]


def fix_digests(conn) -> dict[int, tuple[int, str]]:
    """Per aircraft: its fixes' count and the md5 of their JSON texts (as `stored`
    gives them) in time order. Equal digests are equal rows, compared in the server
    instead of hundreds of thousands of rows decoded in Python; `fixes_of` shows the
    rows where they differ."""
    return {a: (n, h) for a, n, h in conn.execute(
        "SELECT f.aircraft_id, count(*), md5(string_agg("
        "(to_jsonb(f) - 'receiver_id' || jsonb_build_object('receiver', r.name))::text, "
        "E'\\n' ORDER BY f.time)) "
        "FROM fixes f LEFT JOIN receivers r ON r.id = f.receiver_id "
        "GROUP BY f.aircraft_id").fetchall()}


def fixes_of(conn, aircraft: list[int]) -> list[dict]:
    """The fixes of these aircraft, as `stored` gives them."""
    return [r for (r,) in conn.execute(
        "SELECT to_jsonb(f) - 'receiver_id' || jsonb_build_object('receiver', r.name) "
        "FROM fixes f LEFT JOIN receivers r ON r.id = f.receiver_id "
        "WHERE f.aircraft_id = ANY(%s) ORDER BY f.aircraft_id, f.time", (aircraft,)).fetchall()]
