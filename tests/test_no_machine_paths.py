"""Nothing committed names a folder of the machine that wrote it.

Stored notebook outputs are published in the book, so a printed ``/home/<someone>/...`` or a
temporary folder shows a stranger's machine to every reader; a test that hard-codes such a path
passes on one machine only. Locations are printed by their setting instead
(``course_lib.runtime.config.shown_path``: ``$COURSE_DATA_DIR/MNIST/raw``, ``.cache/...``).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from course_lib.runtime.config import REPO_ROOT

# Home, work and temporary folders of Linux, macOS and Windows, written so that this file does
# not match itself. A match must start a path: "https://host/tmp/x" is a URL, not a folder.
FOLDERS = ["home", "Users", "root", "work", "tmp", "var/tmp", "var/folders", "private/var"]
MACHINE_PATH = re.compile(
    r"(?<![\w.~/:-])/(?:"
    + "|".join(re.escape(folder) for folder in FOLDERS)
    + r")/[\w.-][^\s'\"`),;]*"
    r"|[A-Za-z]:\\(?:Users|Temp)\\"
)
IMAGE_TYPES = ("image/", "application/vnd.jupyter.widget")  # base64 or widget state, not text


def committed_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the committed files cannot be listed")
    return listed.stdout.splitlines()


def notebook_texts(text: str) -> list[str]:
    """The sources and the text outputs of a notebook
    (images are left out: base64 can hold any letters)."""
    notebook = json.loads(text)
    texts = []
    for cell in notebook["cells"]:
        texts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.append("\n".join(output.get("traceback", [])))
            for kind, value in output.get("data", {}).items():
                if not kind.startswith(IMAGE_TYPES):
                    texts.append(value if isinstance(value, str) else json.dumps(value))
    return texts


def machine_paths(relative: str) -> list[str]:
    path = REPO_ROOT / relative
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
        return []  # binary files (images), submodules, files deleted but not yet committed
    texts = notebook_texts(text) if path.suffix == ".ipynb" else [text]
    return [match.group(0) for part in texts for match in MACHINE_PATH.finditer(part)]


def test_the_pattern_finds_machine_paths_and_only_those():
    def found(text: str) -> bool:
        return bool(MACHINE_PATH.search(text))

    for text in [
        "data: " + "/" + "work/shared/data",
        "'/" + "home/ada/x.pt'",
        "at /" + "tmp/pytest-1/x",
        "C:\\Users\\ada\\x",
        "(/" + "root/.cache/torch)",
        "/" + "Users/ada/x",
    ]:
        assert found(text), text
    for text in [
        "https://example.org/" + "tmp/x",
        "$COURSE_DATA_DIR/MNIST/raw",
        ".cache/judge.pt",
        "~/.cache/torch",
        "../shared/data",
        "a/" + "work/b",
    ]:
        assert not found(text), text


def test_no_committed_text_file_names_a_home_work_or_temporary_folder():
    offenders = {name: found for name in committed_files() if (found := machine_paths(name))}
    assert offenders == {}, (
        "Committed files name folders of the machine that wrote them: "
        + "; ".join(f"{name}: {', '.join(sorted(set(paths)))}" for name, paths in offenders.items())
        + ". Print locations with course_lib.runtime.config.shown_path, and find the "
        "shared folder with "
        "tests/shared_data.py."
    )
