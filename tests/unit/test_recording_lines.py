"""Every non-blank line of a recording is a message (soar.feeds.recordings): one that
cannot be read arrives as UNREADABLE, which the parsers return as it is, so a replay's
messages in equal the file's lines."""

from __future__ import annotations

from datetime import datetime, timezone

from soar.feeds import modes, ogn, recordings
from soar.records import UNREADABLE

APRS = ("2020-05-30 11:04:52.431806: FLRD0058A>APRS,qAS,EDKW:/110444h5109.77N\\00740.38E"
        "^353/052/A=007810 id22D0058A +653fpm")


def messages(path, fmt="aprs"):
    return [m for chunk in recordings.replay(path, fmt) for m in chunk]


def test_junk_lines_are_counted_at_the_time_around_them(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("junk before any time\n\n" + APRS + "\nno time prefix\n   \n" + APRS
                    + "\n\x00\x01 binary\n")
    got = messages(path)
    assert [m.payload == UNREADABLE for m in got] == [
        True, False, True, False, True]
    t = datetime(2020, 5, 30, 11, 4, 52, 431806, tzinfo=timezone.utc)
    assert {m.received_at for m in got} == {t}        # the first readable line's, then the last
    assert [type(m.payload) for m in got if m.payload == UNREADABLE] == [str] * 3   # plain text
    results = [ogn.parse(m.payload, m.received_at) for m in got]
    assert results[0] == UNREADABLE and results[1].__class__.__name__ == "Fix"


def test_a_file_of_junk_only_is_counted_line_for_line(tmp_path):
    path = tmp_path / "junk.txt"
    path.write_text("".join(f"junk {i}\n" for i in range(recordings.CHUNK + 5)))
    got = messages(path)
    assert len(got) == recordings.CHUNK + 5 and {m.payload for m in got} == {UNREADABLE}


def test_modes_recordings_count_unreadable_lines_too(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("1522782180.5 8d4ca1fa9909a3b8b0044f9d7d0e\nnot a frame\n# a comment\n")
    got = messages(path, "modes")
    assert len(got) == 3 and [m.payload for m in got][1:] == [UNREADABLE, UNREADABLE]
    assert modes.ModeSDecoder("feed").decode(got[1].payload, got[1].received_at) == UNREADABLE


def test_a_reason_in_place_of_a_line_survives_an_unpickler_that_admits_no_soar_class():
    """Messages cross process boundaries (the parse pool) and the disk buffer, whose
    unpickler admits datetime only: the reason arrives as plain text and the parsers
    still count it under its name."""
    import io
    import pickle

    from soar.records import TOO_LONG, Message, as_payload

    class DatetimeOnly(pickle.Unpickler):
        def find_class(self, module, name):
            if module != "datetime":
                raise pickle.UnpicklingError(f"{module}.{name}")
            return super().find_class(module, name)

    t = datetime(2020, 5, 30, 11, 4, 52, tzinfo=timezone.utc)
    sent = [tuple(Message("aprs", t, as_payload(r))) for r in (UNREADABLE, TOO_LONG)]
    got = DatetimeOnly(io.BytesIO(pickle.dumps(sent))).load()
    assert [ogn.parse(m[2], m[1]) for m in got] == ["unreadable", "too_long"]
    assert ogn.parse("unreadable!", t) == "parse_error"          # only the exact text
