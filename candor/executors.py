"""Run one function over many items: serially in this process, in a local process pool, or on Ray.

The batch scan (:mod:`candor.services.batch`) and the corpus builders (:mod:`candor.training.corpus`)
hand an :class:`Executor` a top-level function and an iterable of picklable items and get
:class:`Done` records back as items finish (in completion order, not input order). The same calling
code runs on all three; only :func:`executor_for` decides which.

- :class:`SerialExecutor`: one item at a time, here. No worker process, no initializer.
- :class:`PoolExecutor`: ``workers`` spawned processes on this host (they exit if this one dies).
- :class:`RayExecutor`: tasks on a Ray cluster (``ray start --head`` on one machine is a cluster of
  one). Ray is imported only here, only when asked.

Items are pulled from the iterable lazily, a bounded window ahead of the results, so a caller's
generator can decide what to submit next from what has finished (the corpus builder stops planning
once its target is in sight). A function that raises does not stop the run: its item comes back as
a :class:`Done` with ``error`` set ("ExceptionType: message"), which the caller turns into a row or
re-raises. The function (and the initializer) must be picklable by reference: module-level, with any
set-up it needs built inside the worker process from plain arguments, never a pickled container.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Generic, Literal, TypeVar

from candor.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")

Kind = Literal["serial", "pool", "ray"]


@dataclass(frozen=True)
class Done(Generic[T, R]):
    """One finished item: ``value`` when ``fn`` returned, ``error`` ("Type: message") when it raised."""

    item: T
    value: R | None = None
    error: str | None = None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Executor(ABC):
    """Maps a function over items. ``workers``: how many items run at once (1 for serial)."""

    kind: Kind
    workers: int

    @abstractmethod
    def map_unordered(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        initializer: Callable[[], None] | None = None,
    ) -> Iterator[Done[T, R]]:
        """Run ``fn(item)`` for every item; yield a :class:`Done` per item as it finishes.
        ``initializer()`` runs once in each worker process before its first item (not in serial)."""

    def describe(self) -> str:
        """A few words for progress lines and reports: "serial", "2 processes", "Ray (4 CPUs)"."""
        return self.kind

    def close(self) -> None:  # noqa: B027 - most executors hold nothing between runs
        """Release what the executor holds (Ray: disconnect from the cluster)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Each item in turn, in this process: the reference the parallel executors must agree with."""

    kind: Kind = "serial"

    def __init__(self) -> None:
        self.workers = 1

    def map_unordered(self, fn, items, *, initializer=None):
        for item in items:
            try:
                value = fn(item)
            except Exception as exc:  # recorded in the item's Done, never dropped
                yield Done(item, error=_describe(exc))
                continue
            yield Done(item, value)


def _pool_worker_start(parent_pid: int, initializer: Callable[[], None] | None) -> None:
    """Pool worker set-up: exit when the parent process is gone (killed) instead of lingering, then
    the caller's initializer."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    if initializer is not None:
        initializer()


class PoolExecutor(Executor):
    """``workers`` spawned processes on this host; at most ``2 * workers`` items in flight."""

    kind: Kind = "pool"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise InvalidInput("a process pool needs at least one worker")
        self.workers = workers

    def describe(self) -> str:
        return f"{self.workers} process{'es' if self.workers != 1 else ''}"

    def map_unordered(self, fn, items, *, initializer=None):
        context = get_context("spawn")  # no forked copies of torch/mediapipe state
        with ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_pool_worker_start, initargs=(os.getpid(), initializer)
        ) as pool:
            submit = functools.partial(pool.submit, fn)
            for future, item in _in_flight(items, 2 * self.workers, submit, _first_futures):
                exc = future.exception()
                yield Done(item, error=_describe(exc)) if exc is not None else Done(item, future.result())


def _first_futures(pending: list[Future]) -> Iterable[Future]:
    return wait(pending, return_when=FIRST_COMPLETED)[0]


def _in_flight(
    items: Iterable[Any],
    limit: int,
    submit: Callable[[Any], Any],
    finished: Callable[[list[Any]], Iterable[Any]],
) -> Iterator[tuple[Any, Any]]:
    """(handle, item) as each submitted item finishes, with at most ``limit`` in flight and items
    pulled from ``items`` only as room frees up. ``submit`` starts one item and returns its handle;
    ``finished`` waits for some of the pending handles and returns those that are done."""
    todo = iter(items)
    pending: dict[Any, Any] = {}
    exhausted = False
    while True:
        while not exhausted and len(pending) < limit:
            try:
                item = next(todo)
            except StopIteration:
                exhausted = True
                break
            pending[submit(item)] = item
        if not pending:
            return
        for handle in finished(list(pending)):
            yield handle, pending.pop(handle)


_initialized: set[str] = set()  # initializers already run in this (Ray worker) process


def _ray_call(fn: Callable[[Any], Any], item: Any, initializer: Callable[[], None] | None) -> Any:
    """The body of every Ray task: the initializer once per worker process, then ``fn(item)``."""
    if initializer is not None:
        name = f"{initializer.__module__}.{initializer.__qualname__}"
        if name not in _initialized:
            initializer()
            _initialized.add(name)
    return fn(item)


class RayExecutor(Executor):
    """Tasks on Ray. ``address``: "auto" (the cluster `ray start` runs on this machine), "HOST:PORT"
    (a head node's GCS address, e.g. 127.0.0.1:6390), or "local" (a private Ray for this process with
    ``num_cpus`` CPUs, gone when it ends). Each task takes one CPU; at most twice the cluster's CPUs
    are in flight."""

    kind: Kind = "ray"

    def __init__(self, address: str, *, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidInput("--ray needs Ray: pip install 'candor[cluster]'") from None
        self._ray = ray
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING"}
            try:
                if address == "local":
                    ray.init(num_cpus=num_cpus, **options)
                else:
                    ray.init(address=address, **options)
            except ConnectionError as exc:
                raise InvalidInput(f"cannot reach a Ray cluster at {address!r}: {exc}") from None
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1)(_ray_call)

    def describe(self) -> str:
        return f"Ray ({self.workers} CPU{'s' if self.workers != 1 else ''})"

    def map_unordered(self, fn, items, *, initializer=None):
        ray = self._ray
        fn_ref = ray.put(fn)  # shipped once, not with every task
        init_ref = ray.put(initializer)

        def submit(item: Any) -> Any:
            return self._remote.remote(fn_ref, item, init_ref)

        def finished(pending: list[Any]) -> list[Any]:
            return ray.wait(pending, num_returns=1)[0]

        for ref, item in _in_flight(items, 2 * self.workers, submit, finished):
            try:
                value = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # fn raised: report the original error
                yield Done(item, error=_describe(exc.cause) if exc.cause is not None else str(exc))
                continue
            except ray.exceptions.RayError as exc:  # the worker died, the task was lost
                yield Done(item, error=_describe(exc))
                continue
            yield Done(item, value)

    def close(self) -> None:
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()


def executor_for(*, ray: str | None = None, workers: int = 1) -> Executor:
    """``ray`` set ("auto", "local" or "HOST:PORT"): a :class:`RayExecutor` (``workers`` CPUs for a
    "local" one); otherwise ``workers`` > 1: a :class:`PoolExecutor`; else a :class:`SerialExecutor`."""
    if workers < 1:
        raise InvalidInput("--workers must be at least 1")
    if ray is not None:
        if not ray.strip():
            raise InvalidInput("--ray takes auto, local or HOST:PORT")
        return RayExecutor(ray.strip(), num_cpus=workers if ray.strip() == "local" else None)
    return PoolExecutor(workers) if workers > 1 else SerialExecutor()
