"""A real capture played again later: the one way a benchmark moves OGN lines in time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_HMS = re.compile(r":/(\d{6})h")
_SERVER_TIME = re.compile(r"(\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d) GMT")


def later(messages, minutes: int):
    """The capture again, `minutes` later: receive times, the packets' own hhmmss and
    the server's time lines moved on, so the same aircraft keep flying (steady state,
    not a cold start) and the server's clock agrees with the receive times (a server
    line left behind would read as a host clock minutes off: soar.ingest.clock)."""
    delta = timedelta(minutes=minutes)

    def packet(m):
        t = (datetime.strptime(m.group(1), "%H%M%S") + delta).strftime("%H%M%S")
        return f":/{t}h"

    def server(m):
        t = datetime.strptime(m.group(1), "%d %b %Y %H:%M:%S") + delta
        return f"{t.day} {t:%b %Y %H:%M:%S} GMT"

    for m in messages:
        if m.payload.startswith("#"):
            payload = _SERVER_TIME.sub(server, m.payload, count=1)
        else:
            payload = _HMS.sub(packet, m.payload, count=1)
        yield m._replace(received_at=m.received_at + delta, payload=payload)
