"""Shared test setup.

``course_lib`` is imported first so that its torchvision guard runs before any test module
imports torchvision (on a CPU-only torch, a bare ``import torchvision`` fails).
"""

from __future__ import annotations

import os

import matplotlib
from book_browser import browser, devtools, serve  # noqa: F401  (the book's browser fixtures)
from lab_session import CHROMIUM_ARGS, chromium_executable

import course_lib  # noqa: F401  (import-order guard, see above)
from course_lib.data.mnist import MIRRORS_ENV

matplotlib.use("Agg")  # no display in CI; figures are only inspected, never shown

import pytest  # noqa: E402
import torch  # noqa: E402

# One intra-op thread per test process. The tests use tiny tensors, and on a busy 2-core machine
# (or with `-n 2`, two workers of two spinning OpenMP threads each) multi-threaded torch made the
# small conv models 10-100x slower than one thread: 173 s instead of about 1 s for one overfit test.
torch.set_num_threads(1)

# No test reaches the internet, even on a machine that has it: MNIST downloads (in this process and
# in the notebook kernels it starts) go to a mirror that does not exist and fail at once. The tests
# of downloads themselves stand in their own urlopen.
os.environ[MIRRORS_ENV] = "file:///nonexistent-course-test-mirror/"


@pytest.fixture
def quiet_progress(monkeypatch):
    """Hide tqdm bars from course_lib.training.fit so test output stays readable."""
    monkeypatch.setenv("COURSE_PROGRESS", "off")


@pytest.fixture
def offline_data_dir(monkeypatch, tmp_path):
    """The configured data folder, else an empty read-only one, where loaders fall back offline."""
    import os

    from course_lib.runtime.config import DATA_DIR_ENV

    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    if configured:
        return configured
    empty = tmp_path / "no-data"
    empty.mkdir()
    empty.chmod(0o555)  # not writable, so nothing is downloaded into it
    monkeypatch.setenv(DATA_DIR_ENV, str(empty))
    return str(empty)


@pytest.fixture(scope="module")
def chromium_page():
    """A Playwright page in headless Chromium, 1400 x 1000 pixels, shared by a module's tests."""
    executable = chromium_executable()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (make env pins it)"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()
