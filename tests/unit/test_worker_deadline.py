"""worker.deadline.Watchdog on a real socket pair: a borrow held past its deadline has
its socket shut down under the blocked reader; one given back in time is never touched
(the next borrower of the same connection keeps it)."""

from __future__ import annotations

import socket

from soar_worker.deadline import Watchdog


class _Held:
    """What the watchdog needs of a connection: its socket's descriptor."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def test_a_borrow_past_its_deadline_wakes_its_blocked_reader():
    dog = Watchdog()
    mine, peer = socket.socketpair()
    try:
        with dog.guard(_Held(mine), 0.2):
            assert mine.recv(1) == b""        # the peer sends nothing: only the shutdown ends it
        assert dog.expired == 1
    finally:
        dog.close()
        mine.close()
        peer.close()


def test_a_borrow_given_back_in_time_is_never_shut_down():
    dog = Watchdog()
    mine, peer = socket.socketpair()
    other, other_peer = socket.socketpair()
    try:
        with dog.guard(_Held(mine), 0.2):
            pass
        # Lent again, with a longer deadline, while the first one's passes: another
        # borrow that expires at 0.3 s (past the first 0.2 s) shows the time has come.
        with dog.guard(_Held(mine), 30):
            with dog.guard(_Held(other), 0.3):
                assert other.recv(1) == b""
            peer.sendall(b"x")
            assert mine.recv(1) == b"x"           # untouched
        assert dog.expired == 1                   # the other one only
    finally:
        dog.close()
        for s in (mine, peer, other, other_peer):
            s.close()
