"""The shutdown spool (soar.ingest.spool) on a real folder: a batch comes back whole,
in order, keyed; folders and files nobody else may have written, or it refuses with
a line naming the fix."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone
from uuid import UUID

import pytest

from soar.errors import SoarError
from soar.ingest.batch import AircraftRow, Batch
from soar.ingest.spool import Spool
from soar.records import Fix, ReceiverBeacon, Source
from soar.tracker.ops import CreateFlight, UpdateFlight

URL = "host=/tmp/run port=54321 dbname=soar user=soar_ingest"
T = datetime(2020, 5, 30, 11, 4, 45, tzinfo=timezone.utc)


def batch(n: int) -> Batch:
    b = Batch()
    for i in range(n):
        b.fixes.append(Fix(T, T, Source.OGN, 2, 0xDD0000 + i, 47.0, 11.0, 600.0, 80.0, 90.0,
                           1.0, 0.0, "EDFS", 12.5, flight_id=UUID(int=i)))
    b.aircraft[1] = AircraftRow(1, 0xDD0000, 2, 1, None, "D-1234", None, "ASK 21", T)
    b.receivers["EDFS"] = ReceiverBeacon("EDFS", T, T, 49.0, 10.0, 300.0, status={"cpu": 0.3})
    b.flight_ops += [CreateFlight({"id": UUID(int=1), "aircraft_id": 1}, "start_takeoff",
                                  window=tuple(b.fixes[:1])),
                     UpdateFlight(UUID(int=1), {"landing_time": T}, "end_landing")]
    b.key = f"key-{n}"     # the writer's idempotency key travels with the batch
    return b


def test_batches_come_back_whole_and_in_order(tmp_path):
    spool = Spool(tmp_path / "spool", URL)
    spool.prepare()
    written = [batch(n) for n in (3, 1, 2)]
    for b in written:
        spool.add(b)
    files = spool.pending()
    assert len(files) == 3
    back = [spool.load(f) for f in files]
    assert [len(b.fixes) for b in back] == [3, 1, 2]
    assert [b.key for b in back] == ["key-3", "key-1", "key-2"]
    first = back[0]
    assert first.fixes == written[0].fixes and first.aircraft == written[0].aircraft
    assert first.receivers["EDFS"].status == {"cpu": 0.3}
    # The flight op's window is the same Fix object as the batch's (tagged in place).
    assert first.flight_ops[0].window[0] is first.fixes[0]
    assert stat.S_IMODE(os.stat(spool.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(spool.folder).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    assert not [p for p in spool.folder.iterdir() if p.name.endswith(".tmp")]
    spool.remove(files[0])
    assert spool.pending() == files[1:]


def test_one_folder_per_database(tmp_path):
    a = Spool(tmp_path, URL)
    b = Spool(tmp_path, URL.replace("dbname=soar", "dbname=other"))
    same = Spool(tmp_path, URL.replace("user=soar_ingest", "user=postgres"))
    assert a.folder != b.folder and a.folder == same.folder
    a.prepare()
    b.prepare()
    b.add(batch(1))
    assert a.pending() == [] and a.others() == {b.folder: 1}
    # A file moved to the wrong database's folder is refused, not written there.
    moved = a.folder / b.pending()[0].name
    os.rename(b.pending()[0], moved)
    with pytest.raises(SoarError, match="is for /tmp/run:54321/other, not /tmp/run:54321/soar"):
        a.load(moved)


def test_refuses_a_folder_open_to_others(tmp_path):
    root = tmp_path / "spool"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    with pytest.raises(SoarError, match=r"open to other users .*chmod 700"):
        Spool(root, URL).prepare()


def test_refuses_a_symlinked_folder(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "spool").symlink_to(real)
    with pytest.raises(SoarError, match="symlink"):
        Spool(tmp_path / "spool", URL).prepare()


def test_refuses_a_symlinked_file_and_foreign_bytes(tmp_path):
    spool = Spool(tmp_path / "spool", URL)
    spool.prepare()
    target = tmp_path / "elsewhere.batch"
    target.write_bytes(b"anything")
    link = spool.folder / "00000000000000000001-1-000001.batch"
    link.symlink_to(target)
    with pytest.raises(SoarError, match="cannot open"):
        spool.load(link)
    link.unlink()
    link.write_bytes(b"not a spool file")
    with pytest.raises(SoarError, match="not a soar spool file"):
        spool.load(link)


def test_refuses_a_file_others_may_write(tmp_path):
    spool = Spool(tmp_path / "spool", URL)
    spool.prepare()
    path = spool.add(batch(1))
    os.chmod(path, 0o666)
    with pytest.raises(SoarError, match="others may write"):
        spool.load(path)


def test_only_one_process_restores(tmp_path):
    spool = Spool(tmp_path / "spool", URL)
    with spool.restoring() as first, Spool(tmp_path / "spool", URL).restoring() as second:
        assert first is True and second is False


def test_a_new_soar_home_made_for_the_spool_stays_usable_by_the_embedded_cluster(tmp_path):
    """`soar replay` against an external database may create $SOAR_HOME for its spool
    before `soar db start` ever ran: as root, the postgres user must still traverse it."""
    home = tmp_path / "home"
    Spool(home / "spool", "postgresql://ingest@db.example/soar").prepare()
    mode = stat.S_IMODE(os.stat(home).st_mode)
    if os.geteuid() == 0:
        assert mode & 0o055 == 0o055 and not mode & 0o022     # traversable, not writable
    else:
        assert mode & 0o077 == 0
    assert stat.S_IMODE(os.stat(home / "spool").st_mode) == 0o700
