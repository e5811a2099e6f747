"""Network facts shared by soar's outbound clients (the device-database download, the
alert webhook): one definition each."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """Whether `host` names this machine (`localhost` or a loopback address): the one
    place plain http:// is accepted without an explicit opt-in."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
