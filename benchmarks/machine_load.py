"""What CPU a benchmark gets right now, printed beside each timing figure, and what each stage spends.

On a shared machine the load average alone misleads: Linux's autogroup scheduler shares the CPU
between sessions whatever their nice values, so the benchmarks measure the cores this process
actually gets. Imported by ``generate_release.py`` and ``live.py`` (run as ``python
benchmarks/NAME.py``, so this folder is on the import path).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


def cores_free(seconds: float = 2.0) -> float:
    """CPU cores this process gets right now: two threads spinning in numpy for ``seconds``."""

    def spin() -> None:
        a = np.random.default_rng(0).random((256, 256))
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            a @ a

    threads = [threading.Thread(target=spin) for _ in range(2)]
    cpu, start = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.process_time() - cpu) / (time.perf_counter() - start)


def machine(seconds: float = 2.0) -> str:
    """The load average and the cores free, in words."""
    return f"load average {os.getloadavg()[0]:.1f}, cores free {cores_free(seconds):.2f} of {os.cpu_count()}"


def _usage(who: int) -> np.ndarray:
    u = resource.getrusage(who)
    return np.array([u.ru_utime, u.ru_stime])


class StageCPU:
    """(user, system) CPU seconds spent per named stage, the stages run one at a time.

    A stage is measured on the calling thread, or over the whole process (``process=True``) for a
    stage with threads of its own, such as x264's."""

    def __init__(self) -> None:
        self.spent: dict[str, np.ndarray] = {}

    @contextmanager
    def stage(self, name: str, *, process: bool = False) -> Iterator[None]:
        who = resource.RUSAGE_SELF if process else resource.RUSAGE_THREAD
        start = _usage(who)
        try:
            yield
        finally:
            self.spent[name] = self.spent.get(name, np.zeros(2)) + _usage(who) - start

    def per_frame_ms(self, frames: int) -> dict[str, tuple[float, float]]:
        """ms of (user, system) CPU per frame, per stage, in the order the stages first ran."""
        return {name: tuple(1000 * cpu / frames) for name, cpu in self.spent.items()}
