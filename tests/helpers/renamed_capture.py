"""A real aircraft of the one-minute OGN capture (ogn-client 0.9.8's oneminute.txt,
2020-05-30 11:04:52-11:05:52 UTC) given a callsign change in the air.

No real recording we have holds an aircraft whose callsign changes while it is heard:
the capture has no OGADSB relays at all (it predates them on that server), the Beast
capture's 11 aircraft and AFR34ZG each keep one callsign, and the one OGADSB aircraft
with two callsigns in valid_messages (ICA3452C8: fnANE8776 at 14:08:33, fnANE76KX at
14:23:51) is heard only three times, 15 minutes apart. So the case is built from real
lines: ICA3D5F99 (OGN type 9, a turboprop or jet, ICAO address 3D5F99) climbing through
3,300 m at 220 km/h and heard all minute, its 592 lines as received, with an ADS-B
style `fn` callsign token appended: the first of ICA3452C8's two real callsigns on the
positions of its first 16 seconds (the previous leg's, as in the issue), the second
after. Nothing else in the lines is changed."""

from __future__ import annotations

import re
from pathlib import Path

from soar.reference import samples

ADDRESS = 0x3D5F99
ADDRESS_TYPE = 1                    # ICAO
OLD, NEW = "ANE8776", "ANE76KX"
SWITCH_HHMMSS = "110455"            # its first regular position is at 11:04:39
_HMS = re.compile(r":/(\d{6})h")


def renamed_line(line: str) -> str:
    """One capture line (`<receive time>: <raw>`); ICA3D5F99's get the callsign token."""
    if "ICA3D5F99>" not in line:
        return line
    m = _HMS.search(line)
    return line + (f" fn{OLD}" if m.group(1) < SWITCH_HHMMSS else f" fn{NEW}")


def renamed_lines(only_aircraft: bool = False) -> list[str]:
    lines = samples.path("oneminute.txt").read_text().splitlines()
    if only_aircraft:
        lines = [ln for ln in lines if "ICA3D5F99>" in ln]
    return [renamed_line(ln) for ln in lines]


def write(path: Path) -> Path:
    """The whole capture, ICA3D5F99 renamed, as a recording `soar replay --format aprs` reads."""
    path.write_text("\n".join(renamed_lines()) + "\n")
    return path
