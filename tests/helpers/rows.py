"""What two runs are compared by: every stored fix and flight as a plain value."""

from __future__ import annotations


def stored(conn) -> tuple[list[dict], list[dict]]:
    """Every fix as JSON with its receiver by name (the id is a sequence's, in the
    order the receivers were met), ordered by aircraft and time; every flight without
    its row times (created_at, updated_at), ordered by id."""
    fixes = conn.execute(
        "SELECT to_jsonb(f) - 'receiver_id' || jsonb_build_object('receiver', r.name) "
        "FROM fixes f LEFT JOIN receivers r ON r.id = f.receiver_id "
        "ORDER BY f.aircraft_id, f.time").fetchall()
    flights = conn.execute("SELECT to_jsonb(f) - 'created_at' - 'updated_at' FROM flights f "
                           "ORDER BY id").fetchall()
    return [r for (r,) in fixes], [r for (r,) in flights]
