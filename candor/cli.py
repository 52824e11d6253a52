"""The ``candor`` command line: a thin composer over the areas' command groups."""

from __future__ import annotations

import importlib

import typer

from candor import __version__

app = typer.Typer(
    name="candor",
    help="Candor: responsible-release talking-face generation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# `keys` is shared: signing keys (provenance) and partner API keys (service) both live under it.
keys_app = typer.Typer(help="Signing keys and partner API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

# Each area registers its own commands; a module that is not there yet is simply skipped.
_COMMAND_MODULES = (
    "generator",
    "corpus",
    "motion",
    "provenance",
    "watermark",
    "service",
    "worker",
    "audit",
    "detector",
    "live",
)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(f"candor {__version__}")
        raise typer.Exit()


for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"candor.commands.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"candor.commands.{_name}":
            raise
        continue
    _module.register(app, keys_app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
