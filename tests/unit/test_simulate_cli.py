"""`soar simulate` options: one-line errors for bad input, a recording and its summary."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from soar.cli.simulate import simulate
from soar.errors import SoarError

app = typer.Typer()
app.command()(simulate)
app.command("noop")(lambda: None)    # two commands: typer keeps `simulate` as a subcommand


@pytest.mark.parametrize("args, message", [
    (["--aircraft", "5", "--rate", "100", "--out", "x"], "not both"),
    ([], "nothing to do"),
    (["--out", "x", "--region", "north"], "--region 'north'"),
    (["--out", "x", "--flight-minutes", "90,20"], "MIN <= MAX"),
    (["--out", "x", "--duration", "0"], "--duration must be positive"),
    (["--out", "x", "--airborne-fraction", "2"], "between 0 and 1"),
])
def test_bad_options_are_one_line_errors(args, message):
    result = CliRunner().invoke(app, ["simulate", *args])
    assert isinstance(result.exception, SoarError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_writes_a_recording_and_prints_its_summary(tmp_path):
    result = CliRunner().invoke(app, [
        "simulate", "--out", str(tmp_path), "--aircraft", "8", "--beast-aircraft", "2",
        "--duration", "60", "--start", "2024-06-15T10:00:00", "--seed", "4", "--region", "alps"])
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout.strip().splitlines()[-1])
    assert meta["start"] == "2024-06-15T10:00:00Z" and meta["end"] == "2024-06-15T10:01:00Z"
    assert meta["aprs_lines"] > 300 and meta["frames"] > 100
    assert meta["generation"]["aprs_lines_per_s"] > 0
    for name in ("aprs.txt", "modes.jsonl", "beast.bin", "truth.jsonl", "simulation.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert any(cmd.startswith("soar replay") and "--start" in cmd for cmd in meta["replay"])
