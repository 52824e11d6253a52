"""The house holds: imports run one way (front doors -> services -> libraries -> ground), Settings are
read only by the front doors and the container, and offline tooling stays out of the service.

Every ``import`` of every module under candor/ is read from its syntax tree, including imports inside
functions and ``TYPE_CHECKING`` blocks: a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "candor"

FRONT_DOORS = {"api", "cli", "commands", "client"}  # client: the live API client (candor/client.py)
LIBRARIES = {"generator", "provenance", "policy", "detector"}
GROUND = {"config", "errors", "executors", "files"}  # executors: serial, process pool or Ray

# (importing area, imported area) pairs that must never appear, with the reason.
FORBIDDEN: dict[tuple[str, str], str] = {}
for upper in ("services", "training", *FRONT_DOORS):
    FORBIDDEN[("store", upper)] = "store only stores: it knows nothing above it"
    for library in LIBRARIES:
        FORBIDDEN[(library, upper)] = "a library never imports a layer above it"
for library in LIBRARIES | {"training"}:
    FORBIDDEN[("store", library)] = "store imports no library"
for library in LIBRARIES:
    FORBIDDEN[(library, "store")] = "libraries get plain values (a session factory, a lookup), not the store"
for other in LIBRARIES - {"generator"}:
    FORBIDDEN[("generator", other)] = "the generator imports no other library"
for other in LIBRARIES - {"policy"}:
    FORBIDDEN[("policy", other)] = "policy decides over plain data"
FORBIDDEN[("provenance", "generator")] = "provenance works on any MP4, not only the generator's"
FORBIDDEN[("provenance", "detector")] = "the detector uses provenance, not the other way"
for front in FRONT_DOORS:
    FORBIDDEN[("services", front)] = "no callbacks back up to a front door"
    FORBIDDEN[("training", front)] = "offline tooling is called by the CLI, it does not call it"
FORBIDDEN[("services", "training")] = "offline tooling lives apart from what the service runs"
for area in ("generator", "provenance", "policy", "detector", "store", "services", "training", *GROUND):
    FORBIDDEN[(area, "api")] = "nothing imports a front door"
    FORBIDDEN[(area, "cli")] = "nothing imports a front door"
    FORBIDDEN[(area, "commands")] = "nothing imports a front door"
    FORBIDDEN[(area, "client")] = "nothing imports a front door"
FORBIDDEN[("api", "commands")] = "the front doors are independent"
FORBIDDEN[("api", "client")] = "the front doors are independent"
FORBIDDEN[("api", "cli")] = "the front doors are independent"
for ground in GROUND:
    for upper in LIBRARIES | {"store", "services", "training"}:
        FORBIDDEN[(ground, upper)] = "the ground imports nothing above it"

# Who may build Settings into objects: the front doors and the container.
SETTINGS_READERS = {"api", "cli", "commands", "client", "config"}
SETTINGS_MODULES = {"candor.services.container"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _area(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "candor" or len(parts) == 1:
        return None
    return parts[1].removesuffix(".py")


def _imports(module: str, source: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source`` (the text of ``module``), relative
    ones resolved; ``from x import y`` yields both ``x`` and ``x.y``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def _violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    area = _area(module)
    wrong = []
    for line, target in _imports(module, source, is_package=is_package):
        reason = FORBIDDEN.get((area or "", _area(target) or ""))
        if reason is not None:
            wrong.append(f"{module}:{line} imports {target}: {reason}")
    return wrong


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_scan_sees_the_package() -> None:
    assert len(MODULES) > 100
    areas = {_area(_module_name(p)) for p in MODULES}
    assert {"api", "services", "store", "generator", "provenance", "policy", "detector", "training"} <= areas


def test_the_checker_catches_upward_imports_of_every_form() -> None:
    source = (
        "from candor.services import jobs\n"  # absolute
        "from ..services.worker import publish_job\n"  # relative
        "def later():\n    import candor.api.app\n"  # deferred, inside a function
        "from candor.store.database import Base\n"  # allowed: within the store
    )
    found = _violations("candor.store.fake", source)
    assert [v.split(" imports ")[1].split(":")[0] for v in found] == [
        "candor.services",
        "candor.services.jobs",
        "candor.services.worker",
        "candor.services.worker.publish_job",
        "candor.api.app",
    ]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_run_one_way(path: Path) -> None:
    wrong = _violations(_module_name(path), path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_only_front_doors_and_the_container_read_settings(path: Path) -> None:
    module = _module_name(path)
    if _area(module) in SETTINGS_READERS or module in SETTINGS_MODULES:
        return
    imports = _imports(module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
    readers = [f"{path.name}:{line} imports {target}" for line, target in imports if target.startswith("candor.config")]
    assert not readers, "Settings become plain values in candor.services.container:\n" + "\n".join(readers)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_a_long_module_says_why(path: Path) -> None:
    """Around 400 lines is a signal to look again; a module past it states the reason at its top."""
    text = path.read_text(encoding="utf-8")
    if text.count("\n") <= 420:
        return
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert "over 400 lines" in docstring.lower(), f"{path.name}: {text.count(chr(10))} lines and no reason given"
