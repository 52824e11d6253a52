"""One thread per stage: the numeric libraries' own thread pools are turned off.

A generation runs its stages on threads of their own (motion beside rendering beside x264), and
each stage is a stream of small kernels: a 4-layer transformer over 18-60 tokens, 478-point
geometry, 512x512 remaps. A library pool of two threads per call only adds hand-offs and, worse,
spin-waits: on this shared 2-core machine (``benchmarks/generate_speed.py``, load ~6)

- torch at 2 threads made the live motion window 6x slower (78 ms CPU per frame instead of 13);
- OpenBLAS's worker thread spent 3 ms of *system* time per frame spinning in ``sched_yield``
  after the renderer's small matrix products (most of the offline path's system time);
- OpenCV's pool likewise (the renderer already asked for one thread).

These are process-wide settings of the libraries; a process that renders (the CLI, the service)
wants them all, so the pipeline sets them when it is built.
"""

from __future__ import annotations


def one_thread_per_stage() -> None:
    """Limit torch's intra-op pool, OpenBLAS and OpenCV to the calling stage's own thread."""
    import cv2
    import torch
    from threadpoolctl import threadpool_limits

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    cv2.setNumThreads(1)
    threadpool_limits(limits=1, user_api="blas")
