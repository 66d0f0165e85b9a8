"""Long steps say how far they are: done/total, rate and time left, at most `interval_s` apart."""

import logging

import pytest

from leukoflow.runtime import progress as progress_module
from leukoflow.runtime.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", fake)
    return fake


def test_a_line_every_interval_with_done_total_and_time_left(clock, caplog):
    caplog.set_level(logging.INFO)
    progress = Progress("heatmaps", 10, logging.getLogger("leukoflow.test"), interval_s=30, unit="slides")
    for _ in range(10):
        clock.now += 12.0  # 12 s per slide: a line after slides 3, 5 and 8, then the last
        progress.advance()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "heatmaps: 3/10 slides (30%), 0.08 slides/s, about 84 s left"
    assert lines[-1].startswith("heatmaps: 10/10 slides (100%)") and lines[-1].endswith("about 0 s left")
    assert len(lines) == 4


def test_a_quick_step_says_nothing(clock, caplog):
    caplog.set_level(logging.INFO)
    progress = Progress("decode", 5, logging.getLogger("leukoflow.test"), interval_s=30)
    for _ in range(5):
        clock.now += 1.0
        progress.advance()
    assert caplog.records == []


def test_durations_read_as_minutes_and_hours(clock):
    progress = Progress("training", 1000, logging.getLogger("leukoflow.test"), unit="batches")
    clock.now = 100.0
    progress.done = 10  # 0.1 batches/s: 9,900 s left
    assert progress.line().endswith("about 2 h 45 min left")
    progress.done = 500  # 5 batches/s: 100 s left
    assert progress.line().endswith("about 1 min 40 s left")
