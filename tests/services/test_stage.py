"""Stage: a pipeline step on a thread of its own (candor.services.common.Stage), which live
sessions use to overlap rendering with watermarking and encoding."""

import threading

import pytest

from candor.services.common import Stage


def test_items_run_in_order_on_another_thread():
    seen: list = []
    stage = Stage(lambda item: seen.append((item, threading.get_ident())), name="test-stage", depth=2)
    for i in range(20):
        stage.put(i)
    stage.close()
    assert [item for item, _ in seen] == list(range(20))
    assert {ident for _, ident in seen} != {threading.get_ident()}


def test_an_error_reaches_the_producer():
    def fail(item) -> None:
        if item == 3:
            raise ValueError("bad item")

    stage = Stage(fail, name="test-stage-error", depth=1)
    with pytest.raises(ValueError, match="bad item"):
        for i in range(50):
            stage.put(i)
        stage.close()
