"""The student's environment in a real browser: notebook 03 in JupyterLab, fresh and after Run All.

A JupyterLab server (tests/lab_session.py: the settings of `make lab`, the smoke profile) serves a
scratch copy of the notebook, and Playwright drives Debian's Chromium the way a student would: open
the notebook, look, choose Run > Run All Cells, move a slider of the latent-space explorer. What the
page showed is captured once per stage (fixtures ``fresh`` and ``after_run_all``) and each test
checks one promise. Screenshots go to tests/_screenshots/lab/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import pytest
from lab_session import ROOT, lab_session

NOTEBOOK = ROOT / "notebooks" / "03_variational_autoencoder.ipynb"
SCREENSHOTS = ROOT / "tests" / "_screenshots" / "lab"
COURSE_KERNEL_LABEL = "Python 3 (course)"
OPEN_TIMEOUT_S = 60
RUN_ALL_TIMEOUT_S = 180  # 10-20 s on two cores in the smoke profile
REDRAW_TIMEOUT_S = 20
RAW_MARKUP = [
    ":class:",
    "{cite}",
    "HBox(",
    "Unknown Directive",
]  # MyST source, widget reprs, MyST's notice
SOLUTION_IN_SOURCE = re.compile(
    r"\{[\w-]+\}\s*Solution"
)  # ```{admonition} Solution, :::{dropdown} Solution
CELLS = ".jp-NotebookPanel .jp-Notebook .jp-Cell"

# The page's text as a student reads it (editors hold the Markdown and code sources instead).
SHOWN_TEXT_JS = """(root) => {
    const copy = root.cloneNode(true);
    copy.querySelectorAll('.jp-InputArea-editor, style, script')
        .forEach((hidden) => hidden.remove());
    return copy.textContent;
}"""
READY_JS = (
    """(cellCount) => {
    const cells = document.querySelectorAll('%s');
    const markdown = document.querySelectorAll('.jp-Notebook .jp-MarkdownCell');
    const rendered = document.querySelectorAll('.jp-Notebook .jp-MarkdownCell .myst');
    const kernel = document.querySelector('[data-jp-item-name="kernelName"]');
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return cells.length === cellCount && rendered.length === markdown.length
        && kernel !== null && kernel.textContent.trim() !== 'No Kernel'
        && status !== null && status.dataset.status === 'idle';
}"""
    % CELLS
)
PROMPTS_JS = (
    "() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))"
    ".map((prompt) => prompt.textContent.trim())"
)
RUNNING_JS = (
    "() => Array.from(document.querySelectorAll('.jp-Notebook .jp-InputPrompt'))"
    ".some((prompt) => prompt.textContent.includes('*'))"
)
FINISHED_JS = """() => {
    const prompts = Array.from(
        document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'));
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return status !== null && status.dataset.status === 'idle'
        && prompts.every((prompt) => !prompt.textContent.includes('*'));
}"""
SOLUTIONS_JS = """() => Array.from(document.querySelectorAll('.jp-Notebook .myst details'))
    .filter((box) => box.querySelector('summary').textContent.trim().startsWith('Solution'))
    .map((box) => ({open: box.open,
                    bodyShown: Array.from(box.children).some(
                        (part) => part.tagName !== 'SUMMARY' && part.checkVisibility())}))"""
# Error outputs render as stderr text, like warnings; IPython's traceback header tells them apart.
ERRORS_JS = """() => Array.from(document.querySelectorAll(
        '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .map((output) => output.textContent)
    .filter((text) =>
        /Traceback \\(most recent call last\\)|^\\s*Cell In\\[\\d+\\], line \\d+/m.test(text))"""
# jupyterlab-myst marks a citation or cross-reference it cannot resolve: a warning sign, a title.
UNRESOLVED_JS = """() => Array.from(
        document.querySelectorAll('.jp-Notebook .myst .text-yellow-600[title]'))
    .map((mark) => `${mark.title}: ${mark.textContent}`)"""
DRAWN_IMAGES_JS = (
    "(root) => Array.from(root.querySelectorAll('.jp-OutputArea-output img'))"
    ".filter((img) => img.complete && img.naturalWidth > 0).map((img) => img.src)"
)


@dataclass(repr=False)  # a failing test names the one field it checks
class Seen:
    """What the page showed at one stage."""

    text: str  # the notebook's text as shown (rendered Markdown and outputs, no sources)
    kernel_label: str
    dialogs: list[str]
    toasts: list[str]
    unresolved: list[str]  # "Citation Not Found: key" for each reference MyST could not resolve
    solutions: list[dict]  # {"open": bool, "bodyShown": bool} per Solution box
    explorer_images: list[str]  # src of each drawn image in the explorer cell's output
    prompts: list[str]
    errors: list[str]  # the text of each error output
    images: int  # drawn images in all outputs


def notebook_source() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def explorer_index(notebook: dict) -> int:
    """The code cell that builds the latent-space explorer: the one that makes sliders."""
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code" and "Slider(" in "".join(cell["source"]):
            return index
    raise AssertionError(
        f"{NOTEBOOK.name} has no code cell that makes a slider; update explorer_index"
    )


def cell(page, index: int):
    return page.locator(f'{CELLS}[data-windowed-list-index="{index}"]')


def cell_with_heading(page, heading: str):
    return (
        page.locator(CELLS).filter(has=page.locator(".myst h2, .myst h3", has_text=heading)).first
    )


def screenshot(page_or_locator, name: str) -> None:
    """The page's viewport, or one element, scrolled into view and given a moment to settle.

    JupyterLab lays out a long notebook lazily: images drawn above an element move it after the
    first scroll, so the element is scrolled to twice before its picture is taken."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if hasattr(page_or_locator, "scroll_into_view_if_needed"):
        for _ in range(2):
            page_or_locator.scroll_into_view_if_needed()
            page_or_locator.page.wait_for_timeout(500)
    page_or_locator.screenshot(path=SCREENSHOTS / f"{name}.png")


def look(page, explorer: int) -> Seen:
    notebook = page.locator(".jp-NotebookPanel .jp-Notebook")
    return Seen(
        text=notebook.evaluate(SHOWN_TEXT_JS),
        kernel_label=page.locator('[data-jp-item-name="kernelName"]').inner_text().strip(),
        dialogs=page.locator(".jp-Dialog").all_inner_texts(),
        toasts=page.locator(".Toastify__toast").all_inner_texts(),
        unresolved=page.evaluate(UNRESOLVED_JS),
        solutions=page.evaluate(SOLUTIONS_JS),
        explorer_images=cell(page, explorer).evaluate(DRAWN_IMAGES_JS),
        prompts=page.evaluate(PROMPTS_JS),
        errors=page.evaluate(ERRORS_JS),
        images=len(notebook.evaluate(DRAWN_IMAGES_JS)),
    )


def wait_for(page, script: str, timeout_s: float, what: str, arg=None) -> None:
    try:
        page.wait_for_function(script, arg=arg, timeout=timeout_s * 1000, polling=250)
    except (
        Exception
    ) as error:  # playwright's TimeoutError; say what did not happen, and what was shown
        prompts = page.evaluate(PROMPTS_JS)
        raise AssertionError(
            f"{what} did not happen within {timeout_s} s; code prompts: {prompts}"
        ) from error


# ------------------------------------------------------------------------------------ the stages
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with lab_session(NOTEBOOK, tmp_path_factory.mktemp("lab")) as session:
        yield session


@pytest.fixture(scope="module")
def page(chromium_page, lab):
    # Tall enough that the explorer cell fits whole.
    chromium_page.set_viewport_size({"width": 1400, "height": 1600})
    chromium_page.goto(lab.notebook_url())
    return chromium_page


@pytest.fixture(scope="module")
def explorer() -> int:
    return explorer_index(notebook_source())


@pytest.fixture(scope="module")
def fresh(page, explorer) -> Seen:
    """The notebook just opened: every cell attached, Markdown rendered, the kernel idle."""
    wait_for(
        page,
        READY_JS,
        OPEN_TIMEOUT_S,
        "opening the notebook with its kernel idle",
        arg=len(notebook_source()["cells"]),
    )
    screenshot(page, "01_fresh_top")
    screenshot(cell_with_heading(page, "The VAE-restriction paper"), "02_fresh_citations")
    screenshot(cell(page, explorer), "03_fresh_explorer")
    screenshot(cell_with_heading(page, "Exercises"), "04_fresh_solutions")
    return look(page, explorer)


@pytest.fixture(scope="module")
def after_run_all(fresh, page, explorer) -> Seen:
    """Run > Run All Cells, as a student would, until the kernel is idle again."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    wait_for(page, RUNNING_JS, 10, "Run All Cells queueing the cells")
    start = time.perf_counter()
    wait_for(page, FINISHED_JS, RUN_ALL_TIMEOUT_S, "Run All Cells finishing")
    print(f"Run All Cells: {time.perf_counter() - start:.1f} s")
    screenshot(page, "05_after_run_all")
    screenshot(cell(page, explorer), "06_explorer_after_run")
    return look(page, explorer)


# ------------------------------------------------------------------------------------ opened fresh
def test_opens_with_the_course_kernel_and_no_pop_up(fresh):
    assert fresh.kernel_label == COURSE_KERNEL_LABEL, (
        f"the notebook started kernel {fresh.kernel_label!r}; `make env` installs "
        f"{COURSE_KERNEL_LABEL!r}"
    )
    assert fresh.dialogs == [], f"a dialog asked the student something on opening: {fresh.dialogs}"
    assert fresh.toasts == [], (
        f"pop-ups on a fresh launch: {fresh.toasts}; lab/overrides.json should turn news and "
        "update checks off"
    )


@pytest.mark.parametrize("markup", RAW_MARKUP)
def test_fresh_notebook_shows_no_raw_markup(fresh, markup):
    where = fresh.text.find(markup)
    assert where < 0, (
        f"raw {markup!r} on the page: ...{fresh.text[max(0, where - 120) : where + 80]}..."
    )


def test_fresh_notebook_resolves_every_reference(fresh):
    assert fresh.unresolved == [], f"MyST could not resolve: {fresh.unresolved}"


def test_solutions_start_collapsed(fresh):
    in_source = sum(
        len(SOLUTION_IN_SOURCE.findall("".join(c["source"])))
        for c in notebook_source()["cells"]
        if c["cell_type"] == "markdown"
    )
    assert in_source > 0, f"{NOTEBOOK.name} has no Solution boxes; update SOLUTION_IN_SOURCE"
    assert len(fresh.solutions) == in_source, (
        f"{in_source} Solution boxes in the source, {len(fresh.solutions)} rendered as collapsible "
        "boxes"
    )
    shown = [box for box in fresh.solutions if box["open"] or box["bodyShown"]]
    assert shown == [], (
        f"{len(shown)} of {in_source} solutions are open when the notebook is opened"
    )


def test_fresh_explorer_shows_a_picture(fresh):
    assert fresh.explorer_images, (
        "the latent-space explorer's stored output shows no picture before a run"
    )


# ------------------------------------------------------------------------------------ after Run All
def test_run_all_runs_every_code_cell_in_order(after_run_all):
    assert after_run_all.errors == [], f"a cell failed:\n{after_run_all.errors[0][-2000:]}"
    counts = [re.fullmatch(r"\[(\d+)\]:", prompt) for prompt in after_run_all.prompts]
    assert all(counts), f"code cells left without an execution count: {after_run_all.prompts}"
    numbers = [int(count.group(1)) for count in counts]
    assert numbers == list(range(1, len(numbers) + 1)), f"cells ran out of order: {numbers}"


def test_run_all_used_the_smoke_profile_and_says_its_numbers_mean_nothing(after_run_all):
    assert "profile 'smoke'" in after_run_all.text, (
        "the notebook did not report \"profile 'smoke'\" although lab_session sets "
        "COURSE_PROFILE=smoke"
    )
    assert "SMOKE RUN: numbers and pictures are meaningless" in after_run_all.text, (
        "a smoke run must say on screen that its numbers mean nothing "
        "(course_lib.viz.figures.show_profile)"
    )


def test_run_all_draws_figures(after_run_all):
    assert after_run_all.images > 0, "no figure was drawn in any output after Run All"


def test_explorer_slider_redraws_the_face(after_run_all, page, explorer):
    output = cell(page, explorer).locator(".jp-OutputArea-output")
    sliders = output.locator(".widget-slider")
    assert sliders.count() > 0, "the latent-space explorer shows no slider after Run All"
    assert after_run_all.explorer_images, "the explorer shows no picture after Run All"
    handle = sliders.first.locator(".noUi-handle")
    handle.focus()
    for _ in range(5):
        handle.press("ArrowRight")  # one slider step each, along one latent dimension
    try:
        page.wait_for_function(
            "([root, before]) => { const now = (%s)(root); return now.length > 0 && now[0] !== "
            "before; }" % DRAWN_IMAGES_JS,
            arg=[cell(page, explorer).element_handle(), after_run_all.explorer_images[0]],
            timeout=REDRAW_TIMEOUT_S * 1000,
            polling=250,
        )
    finally:
        screenshot(cell(page, explorer), "07_explorer_after_slider")
