"""The shard function (soar.ingest.shard): stable values, one owner per message,
balance over real addresses and receivers, and Mode-S frames sorted before their
decode giving the same outcome, frame by frame, as one decoder given every frame."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from helpers.paths import TEST_DATA
from soar.errors import SoarError
from soar.feeds import ogn
from soar.feeds.beast import BeastDecoder, signal_dbfs
from soar.feeds.modes import ModeSDecoder
from soar.ingest.shard import (
    Shard,
    modes_address,
    shard_of_address,
    shard_of_receiver,
)
from soar.records import Fix, ReceiverBeacon

ULSS7 = TEST_DATA / "beast" / "ulss7-2018-04-03.beast"
ULSS7_START = datetime(2018, 4, 3, 19, 2, 28, tzinfo=timezone.utc)


def test_values_are_stable():
    # Frozen: a change would move every aircraft to another shard between versions
    # (processes of two versions side by side would split and duplicate flights).
    addresses = (0x000000, 0x000001, 0x000002, 0x3C6545, 0xDDEEFF, 0xFFFFFF, 0x4CA7B5)
    assert [shard_of_address(a, 2) for a in addresses] == [0, 1, 0, 0, 0, 0, 0]
    assert [shard_of_address(a, 3) for a in addresses] == [0, 1, 0, 0, 0, 0, 0]
    assert [shard_of_address(a, 7) for a in addresses] == [0, 4, 1, 0, 1, 0, 1]
    assert [shard_of_receiver(n, 4) for n in ("Koenigsdf", "LFPZ1", "EDTF", "sim")] == [2, 0, 2, 0]
    assert all(shard_of_address(a, 1) == 0 for a in addresses)


def test_one_owner_per_address_and_receiver():
    for n in (1, 2, 3, 5):
        shards = [Shard(k, n) for k in range(n)]
        for address in range(0, 1 << 24, 4099):
            assert sum(s.owns_address(address) for s in shards) == 1
            assert shards[shard_of_address(address, n)].owns_address(address)
        for name in ("Koenigsdf", "EDTF", "a", ""):
            assert sum(s.owns_receiver(name) for s in shards) == 1


@pytest.fixture(scope="module")
def oneminute():
    """Addresses and receiver names of the real one-minute capture of the OGN feed."""
    from soar.reference import samples
    addresses, receivers = set(), set()
    for line in samples.path("oneminute.txt").read_text(encoding="utf-8").splitlines():
        pair = ogn.parse_capture_line(line)
        r = ogn.parse(pair[1], pair[0])
        if isinstance(r, Fix):
            addresses.add(r.address)
        elif isinstance(r, ReceiverBeacon):
            receivers.add(r.name)
    return addresses, receivers


def _spread(keys, shard_of, n: int) -> float:
    """The largest shard's share relative to a fair 1/n."""
    counts = Counter(shard_of(k, n) for k in keys)
    assert set(counts) == set(range(n))
    return max(counts.values()) * n / len(keys)


def test_balanced_over_real_addresses_and_receivers(oneminute):
    addresses, receivers = oneminute
    icao = {f.payload[1] << 16 | f.payload[2] << 8 | f.payload[3]
            for f in BeastDecoder().feed(ULSS7.read_bytes())
            if len(f.payload) == 14 and f.payload[0] >> 3 == 17}
    assert len(addresses) > 3000 and len(receivers) > 300 and len(icao) >= 10
    for n in (2, 3, 4, 8):
        # Within a few percent of fair for thousands of OGN addresses, consecutive
        # FLARM ranges included (the shard with the most has at most 1.1 x its share).
        assert _spread(addresses, shard_of_address, n) < 1.1, n
        assert _spread(receivers, shard_of_receiver, n) < 1.25, n
    assert _spread(icao, shard_of_address, 2) < 1.5     # the Beast capture's 11 aircraft


def test_parse():
    assert Shard.parse("1/3") == Shard(1, 3) and str(Shard(1, 3)) == "1/3"
    assert Shard.parse("0/1") == Shard(0, 1)
    for bad in ("1", "2/2", "-1/2", "a/b", "1/0", "0/", "/2", "1/2/3"):
        with pytest.raises(SoarError, match="--shard"):
            Shard.parse(bad)


def test_modes_address_of_each_format():
    df17 = bytes.fromhex("8d4840d6202cc371c32ce0576098")
    assert modes_address(df17) == 0x4840D6
    assert modes_address(bytes.fromhex("5d4840d6ffffff")) == 0x4840D6          # DF11
    assert modes_address(b"\x20\x00") is None                                 # Mode-A/C
    assert modes_address(df17[:7]) is None                                    # DF17, 7 bytes
    assert modes_address(bytes.fromhex("a8000000000000000000000000ff")) is not None  # DF21


@pytest.fixture(scope="module")
def ulss7_frames():
    frames = BeastDecoder().feed(ULSS7.read_bytes())
    t0 = frames[0].mlat_ticks
    return [(f.payload, ULSS7_START + timedelta(seconds=(f.mlat_ticks - t0) / 12e6),
             signal_dbfs(f.signal)) for f in frames]


@pytest.mark.parametrize("n", [2, 3])
def test_sorted_frames_decode_as_one_decoder_does(ulss7_frames, n):
    """Each shard decodes only its frames (and lets data time pass on the others, as
    the router does): every frame's outcome is the one a single decoder gives."""
    whole = ModeSDecoder("ulss7")
    expected = [whole.decode(p, t, s) for p, t, s in ulss7_frames]
    shards = [(Shard(k, n), ModeSDecoder("ulss7")) for k in range(n)]
    got = []
    for p, t, s in ulss7_frames:
        owners = []
        for shard, dec in shards:
            mine, address = shard.owns_frame(p)
            if mine:
                owners.append(dec.decode(p, t, s))
            elif address is not None:
                dec.advance(t)
        assert len(owners) == 1
        got.append(owners[0])
    assert got == expected
    fixes = [r for r in expected if isinstance(r, Fix)]
    assert len(fixes) > 500
    assert all(shard_of_address(f.address, n) == shard_of_address(
        modes_address(p), n) for (p, _, _), f in zip(ulss7_frames, expected, strict=True)
        if isinstance(f, Fix))
