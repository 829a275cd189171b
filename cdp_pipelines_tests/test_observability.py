"""Stages in the run log (counts, seconds) and library loggers forwarded to Dagster's."""

from __future__ import annotations

import logging

import pytest
from dagster import DagsterInstance, asset, materialize

from cdp_pipelines.observability import forward_python_logs, stage


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


@pytest.fixture
def target():
    logger = logging.getLogger("cdp-test-target")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    lines = _Lines()
    logger.addHandler(lines)
    yield logger, lines.lines
    logger.removeHandler(lines)


def test_stage_logs_its_start_then_counts_and_seconds(target):
    log, lines = target
    with stage(log, "stitch: scoring pairs") as s:
        s.count(12345, "pairs")
        s.count(None, "ignored")
        s.note = "model version 3"
    assert lines[0] == (logging.INFO, "stitch: scoring pairs ...")
    level, text = lines[1]
    assert level == logging.INFO
    assert text.startswith("stitch: scoring pairs: 12,345 pairs in ")
    assert text.endswith(" s (model version 3)")


def test_a_failed_stage_says_so_and_the_error_goes_on(target):
    log, lines = target
    with pytest.raises(ValueError, match="boom"):
        with stage(log, "c360: c360.customer_360"):
            raise ValueError("boom")
    assert lines[-1][0] == logging.WARNING
    assert lines[-1][1].startswith("c360: c360.customer_360: failed after ")


def test_forwarded_lines_reach_the_target_only_inside_the_block(target):
    log, lines = target
    splink = logging.getLogger("splink.internals.em_training_session")
    before = logging.getLogger("splink").level
    with forward_python_logs(log, "splink"):
        splink.info("Iteration 1: Largest change in params was -0.5")
        splink.log(15, "Iteration time: 0.1 seconds")  # below INFO: not forwarded
    splink.info("after the block")
    assert lines == [(logging.INFO, "splink.internals.em_training_session: "
                                    "Iteration 1: Largest change in params was -0.5")]
    assert logging.getLogger("splink").level == before


def test_stages_and_splink_lines_are_in_the_dagster_run_log():
    @asset
    def staged(context) -> None:
        with forward_python_logs(context.log, "splink"):
            with stage(context.log, "stitch: training the Splink model") as s:
                logging.getLogger("splink.internals.linker").info("EM converged")
                s.count(7, "comparisons")

    instance = DagsterInstance.ephemeral()
    result = materialize([staged], instance=instance)
    assert result.success
    text = "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))
    assert "splink.internals.linker: EM converged" in text
    assert "stitch: training the Splink model: 7 comparisons in " in text


def test_a_stage_without_counts_says_its_seconds(target):
    log, lines = target
    with stage(log, "stitch: name guard") as s:
        s.note = "off (name_guard: off)"
    assert lines[-1][1].startswith("stitch: name guard in ")
    assert lines[-1][1].endswith(" s (off (name_guard: off))")


def test_timings_add_up_each_part_in_the_order_run():
    from cdp_pipelines.observability import Timings

    timings = Timings()
    for name in ("read", "merge", "read"):
        with timings.part(name):
            pass
    assert list(timings.seconds) == ["read", "merge"]
    assert all(s >= 0 for s in timings.seconds.values())
    assert str(timings).startswith("read 0.0, merge 0.0")
    assert str(Timings()) == "none"
