"""The executors agree: every item comes back once, a raising item is a Done with its error, and
items are pulled lazily (a window ahead of the results). Ray's executor is checked beside a real scan
in tests/detector/test_batch_scan.py (one Ray start for both)."""

from __future__ import annotations

import math

import pytest

from candor.errors import InvalidInput
from candor.executors import PoolExecutor, SerialExecutor, executor_for

ITEMS = [4.0, 9.0, -1.0, 16.0]


def _outcomes(executor) -> dict[float, tuple[float | None, str | None]]:
    return {d.item: (d.value, d.error) for d in executor.map_unordered(math.sqrt, ITEMS)}


def test_serial_maps_every_item_and_records_the_error():
    assert _outcomes(SerialExecutor()) == {
        4.0: (2.0, None),
        9.0: (3.0, None),
        -1.0: (None, "ValueError: math domain error"),
        16.0: (4.0, None),
    }


def test_a_process_pool_gives_the_serial_outcomes():
    with PoolExecutor(2) as pool:
        assert _outcomes(pool) == _outcomes(SerialExecutor())


def test_serial_pulls_one_item_per_result():
    pulled = []

    def items():
        for x in ITEMS:
            pulled.append(x)
            yield x

    results = SerialExecutor().map_unordered(math.sqrt, items())
    next(results)
    assert pulled == [4.0]  # a caller's generator may plan the next item from what has finished


def test_executor_for_picks_by_arguments_and_refuses_nonsense():
    assert executor_for().kind == "serial"
    assert executor_for(workers=2).kind == "pool"
    with pytest.raises(InvalidInput):
        executor_for(workers=0)
    with pytest.raises(InvalidInput):
        executor_for(ray=" ")
