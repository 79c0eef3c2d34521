"""The GitHub Pages workflow builds the book with the project's own target and publishes it."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def test_the_workflow_builds_with_make_book_and_uploads_its_output():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = workflow["jobs"]["build"]["steps"]
    runs = [step["run"].strip() for step in steps if "run" in step]
    # `make book`, then the launch branch (tests/test_colab_cell.py runs that step)
    assert runs[0] == "make book" and len(runs) == 2, f"build the book with `make book`: {runs}"
    assert "git push --force origin book" in runs[1]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    # (prefixed, for `make book LANG=ko`, by the removal of LANG from the build's environment)
    assert re.search(
        r"^book: .*\n\t(?:\$\(if [^\n]*\) )?\$\(PY\) scripts/build_book\.py", makefile, re.M
    ), "make book must run scripts/build_book.py"
    uploads = [
        step for step in steps if step.get("uses", "").startswith("actions/upload-pages-artifact")
    ]
    assert [step["with"]["path"] for step in uploads] == [
        "book/_build/html"
    ]  # build_book.py's default output: the English edition, the Korean one in its ko/
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(step.get("uses", "").startswith("actions/deploy-pages") for step in deploy["steps"])
    python = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python"))
    pinned = re.search(
        r'requires-python = ">=([\d.]+)', (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    )
    assert pinned and python["with"]["python-version"] == pinned.group(1), (
        "the workflow's Python must be the project's"
    )
