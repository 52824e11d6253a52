"""Stage: a pipeline step on a thread of its own (candor.services.common.Stage)."""

import os
import sys
import threading

import pytest

from candor.services.common import BACKGROUND_NICE, Stage


def _record(seen: list):
    def fn(item) -> None:
        tid = threading.get_native_id()
        seen.append((item, tid, os.getpriority(os.PRIO_PROCESS, tid)))

    return fn


def test_items_run_in_order_on_another_thread():
    seen: list = []
    stage = Stage(_record(seen), name="test-stage", depth=2)
    for i in range(20):
        stage.put(i)
    stage.close()
    assert [item for item, _, _ in seen] == list(range(20))
    assert {tid for _, tid, _ in seen} != {threading.get_native_id()}


def test_an_error_reaches_the_producer():
    def fail(item) -> None:
        if item == 3:
            raise ValueError("bad item")

    stage = Stage(fail, name="test-stage-error", depth=1)
    with pytest.raises(ValueError, match="bad item"):
        for i in range(50):
            stage.put(i)
        stage.close()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice is Linux's")
def test_a_background_stage_steps_back_and_the_rest_of_the_process_does_not():
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list = []
    stage = Stage(_record(seen), name="test-stage-background", background=True)
    stage.put(0)
    stage.close()
    foreground: list = []
    plain = Stage(_record(foreground), name="test-stage-foreground")
    plain.put(0)
    plain.close()
    assert seen[0][2] == min(19, own + BACKGROUND_NICE)
    assert foreground[0][2] == own
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own
