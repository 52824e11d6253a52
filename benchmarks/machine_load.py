"""What CPU a benchmark gets right now, printed beside each timing figure.

On a shared machine the load average alone misleads: Linux's autogroup scheduler shares the CPU
between sessions whatever their nice values, so the benchmarks measure the cores this process
actually gets. Imported by ``generate_release.py`` and ``live.py`` (run as ``python
benchmarks/NAME.py``, so this folder is on the import path).
"""

from __future__ import annotations

import os
import threading
import time

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
