"""Shared CLI plumbing: turning domain errors into a message and a non-zero exit."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from candor.errors import CandorError

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True)
console = Console()

EXIT_INPUT_ERROR = 2


def fail(message: str, code: int = EXIT_INPUT_ERROR) -> typer.Exit:
    """Print an error line and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so a CandorError becomes `error: ...` on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CandorError as exc:
            raise fail(exc.detail) from None

    return wrapper


@contextmanager
def progress_bar(description: str, total: float | None) -> Iterator[Callable[[float], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1.0: progress.advance(task, n)


@contextmanager
def loading_models() -> Iterator[None]:
    """Garbage collection paused while a command loads torch, mediapipe and its models.

    They allocate millions of long-lived objects, and each full collection during the load walks
    them all again: seven of them took 0.44 s of `candor generate`'s start-up (60 s clip, the 2-core
    machine). Their objects are not garbage; one collection may follow once collection resumes.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_containers: dict[int, Any] = {}  # id(settings) -> (settings, container)


def container():  # -> candor.services.container.Container
    """The container for the current settings, built (and its database migrated) once per process;
    the CLI is one process per command. Settings rebuilt in between (tests clear the settings cache
    to point at another data directory) get a container of their own."""
    from candor.config import get_settings
    from candor.services.container import Container

    settings = get_settings()
    entry = _containers.get(id(settings))
    if entry is None or entry[0] is not settings:
        built = Container.build(settings)
        built.migrate()
        entry = _containers[id(settings)] = (settings, built)
    return entry[1]


def forget_container() -> None:
    """Drop the built containers (after `keys init|rotate` changed the key material they hold)."""
    for _settings, built in _containers.values():
        built.close()
    _containers.clear()
