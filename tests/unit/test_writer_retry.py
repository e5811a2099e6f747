"""The writer's pauses between attempts while the database is unreachable: from 0.5 s,
doubling, never longer than `WriterConfig.retry_max_s` (`soar run --retry-max`), so the
writer is back within that long after the database is."""

from __future__ import annotations

import pytest

from soar.cli.ingest import _retry_max
from soar.errors import SoarError
from soar.ingest.batch import Batch
from soar.ingest.stats import IngestStats
from soar.ingest.writer import TransientWriteError, Writer, WriterConfig


class _Pauses:
    """An `abandon` event that records each pause instead of waiting it out."""

    def __init__(self):
        self.pauses: list[float] = []

    def is_set(self) -> bool:
        return False

    def wait(self, delay: float) -> bool:
        self.pauses.append(delay)
        return False


def _pauses(config: WriterConfig, failures: int) -> list[float]:
    w = Writer("postgresql://unused", IngestStats(), config=config)
    left = [failures]

    def write(batch):
        if left[0]:
            left[0] -= 1
            raise TransientWriteError("connection refused")
    w.write = write
    abandon = _Pauses()
    assert w.write_until_done(Batch(), abandon)
    return abandon.pauses


def test_pauses_double_from_half_a_second_up_to_thirty_by_default():
    assert _pauses(WriterConfig(), 9) == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_retry_max_bounds_every_pause_the_first_included():
    assert _pauses(WriterConfig(retry_max_s=2.0), 5) == [0.5, 1, 2, 2, 2]
    assert _pauses(WriterConfig(retry_max_s=0.2), 3) == [0.2, 0.2, 0.2]


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), 3601])
def test_a_retry_max_that_is_not_a_pause_is_a_one_line_error(value):
    with pytest.raises(SoarError, match="--retry-max must be more than 0"):
        _retry_max(value)
    assert _retry_max(2.0) == 2.0
