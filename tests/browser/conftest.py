"""Fixtures of the browser test: the demo stack (:mod:`tests.browser.stack`), Debian's headless
Chromium (the test fails, it does not skip, when Chromium is missing) and the artifacts folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import ARTIFACTS, CHROMIUM_ARGS, DemoStack, chromium_executable


@pytest.fixture
def demo_stack(tmp_path: Path) -> Iterator[DemoStack]:
    with DemoStack(tmp_path) as stack:
        yield stack


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium, launched by Playwright."""
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go: test-artifacts/browser/ under the repository (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
