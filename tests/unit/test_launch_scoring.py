"""The launch-method confusion matrix of soar.simulate.score: truth rows (a takeoff's
`launch`; tow planes and airliners, which have none, count as `self`), detected
columns (flights.launch_method; `undecided` for NULL), on matched takeoffs only, plus
the methods given to flights first seen in the air."""

from __future__ import annotations

from soar.simulate import score

START, END = "2024-06-15T10:00:00Z", "2024-06-15T11:00:00Z"


def aircraft(address, kind, aircraft_type):
    return {"event": "aircraft", "kind": kind, "address": address, "address_type": 2,
            "aircraft_type": aircraft_type}


def takeoff(address, time, kind, launch, aircraft_type=1):
    return {"event": "takeoff", "time": time, "address": address, "address_type": 2,
            "aircraft_type": aircraft_type, "kind": kind, "launch": launch}


def flight(address, takeoff_time, method, started_at=None):
    return {"aircraft_address": address, "takeoff_time": takeoff_time,
            "started_at": started_at or takeoff_time, "landing_time": None,
            "launch_method": method}


def test_confusion_matrix_counts_matched_takeoffs_by_truth_and_detected_method():
    truth = [aircraft("DD0001", "glider_winch", 1), aircraft("DD0002", "glider_aerotow", 1),
             aircraft("DD0003", "tow_plane", 2), aircraft("DD0004", "motor_glider", 1),
             aircraft("DD0005", "glider_winch", 1), aircraft("DD0006", "glider_winch", 1),
             takeoff("DD0001", "2024-06-15T10:05:00Z", "glider_winch", "winch"),
             takeoff("DD0002", "2024-06-15T10:10:00Z", "glider_aerotow", "aerotow"),
             takeoff("DD0003", "2024-06-15T10:10:02Z", "tow_plane", None, 2),
             takeoff("DD0004", "2024-06-15T10:20:00Z", "motor_glider", "self"),
             takeoff("DD0005", "2024-06-15T10:30:00Z", "glider_winch", "winch"),
             # Not found at all: a missed takeoff, not in the matrix.
             takeoff("DD0006", "2024-06-15T10:40:00Z", "glider_winch", "winch")]
    flights = [flight("DD0001", "2024-06-15T10:05:01Z", "winch"),
               flight("DD0002", "2024-06-15T10:09:58Z", "self"),        # tow plane missed
               flight("DD0003", "2024-06-15T10:10:03Z", "self"),
               flight("DD0004", "2024-06-15T10:20:02Z", "self"),
               flight("DD0005", "2024-06-15T10:30:02Z", None),          # not decided yet
               # Found in the air: no takeoff to match, judged on its own.
               flight("DD0007", None, "unknown", started_at="2024-06-15T10:01:00Z"),
               flight("DD0008", None, None, started_at="2024-06-15T10:02:00Z")]
    launch = score(truth, flights, START, END)["launch"]
    assert launch["matrix"] == {
        "aerotow": {"aerotow": 0, "winch": 0, "self": 1, "unknown": 0, "undecided": 0},
        "winch": {"aerotow": 0, "winch": 1, "self": 0, "unknown": 0, "undecided": 1},
        "self": {"aerotow": 0, "winch": 0, "self": 2, "unknown": 0, "undecided": 0},
    }
    assert launch["takeoffs"] == 5 and launch["correct"] == 3
    assert launch["first_seen_airborne"] == {"aerotow": 0, "winch": 0, "self": 0, "unknown": 1,
                                             "undecided": 1}


def test_spurious_flights_and_takeoffs_near_the_end_are_left_out():
    truth = [aircraft("DD0001", "glider_winch", 1),
             takeoff("DD0001", "2024-06-15T10:59:30Z", "glider_winch", "winch")]
    flights = [flight("DD0001", "2024-06-15T10:59:31Z", None),
               dict(flight("DD0009", None, "unknown", started_at="2024-06-15T10:03:00Z"),
                    spurious_reason="too_low")]
    launch = score(truth, flights, START, END)["launch"]
    assert launch["takeoffs"] == 0
    assert sum(launch["first_seen_airborne"].values()) == 0
