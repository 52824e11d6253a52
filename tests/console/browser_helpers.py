"""What the browser tests do in a page: sign in, run axe-core, save a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest

AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # fetched by `make install` (npm pack axe-core)
SCREENS = Path(__file__).parents[2] / "out" / "console-screens"


def sign_in(page, token: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/console/login")
    page.get_by_label("API key").fill(token)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/console/login" not in page.url, page.locator("main").inner_text()


def check_accessibility(page) -> None:  # type: ignore[no-untyped-def]
    """axe-core in the page: no serious or critical violations (WCAG 2 A/AA rules)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make install` (it fetches axe-core from the npm registry)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    assert result == [], f"{page.url}: {result}"


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
