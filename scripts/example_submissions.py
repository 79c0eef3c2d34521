"""Write two made-up students' submissions of notebook 02, for trying `make grade` (and its test).

.venv/bin/python scripts/example_submissions.py example-class
make grade SUBMISSIONS=example-class   # -> example-class/grades.csv, as on the page For instructors

Both start from the student edition of 02_denoising_autoencoder. Ada answers both coding
exercises correctly. Ben fixes the noise level to the 0.3 of the public check instead of using
`std` (the public check passes; the hidden one, at another level, does not), and scores the
network against the noisy images, as the source slides' training loop does.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import nbformat

from course_lib.authoring.assignments import write_student_editions

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "02_denoising_autoencoder"
STUB = re.compile(r"( *)# YOUR CODE HERE\n *raise NotImplementedError\(\)")
ANSWERS = {  # student -> the body of each answer cell, in order
    "ada": [
        "noise = torch.randn(x.shape, generator=generator)\nreturn (x + std * noise).clamp(0, 1)",
        "noisy = my_noisy(x, std, generator)\nreturn ((model(noisy) - x) ** 2).mean()",
    ],
    "ben": [
        "noise = torch.randn(x.shape, generator=generator)\nreturn (x + 0.3 * noise).clamp(0, 1)",
        "noisy = my_noisy(x, std, generator)\nreturn ((model(noisy) - noisy) ** 2).mean()",
    ],
}


def fill(edition: nbformat.NotebookNode, bodies: list[str]) -> nbformat.NotebookNode:
    """A copy of the student edition with its answer places filled by ``bodies``, in order."""
    filled = nbformat.from_dict(edition)
    answers = [c for c in filled.cells if c.metadata.get("nbgrader", {}).get("solution")]
    if len(answers) != len(bodies):
        raise ValueError(f"{len(answers)} answer cells, but {len(bodies)} answers were given.")
    for cell, body in zip(answers, bodies):
        cell.source = STUB.sub(
            lambda m: "\n".join(m.group(1) + line for line in body.split("\n")), cell.source
        )
    return filled


def write_examples(folder: Path) -> list[Path]:
    """Write <folder>/<student>/02_denoising_autoencoder.ipynb for each made-up student."""
    with tempfile.TemporaryDirectory() as editions:
        [edition_path] = [
            p
            for p in write_student_editions(ROOT / "notebooks", Path(editions))
            if p.stem == NOTEBOOK
        ]
        edition = nbformat.read(edition_path, as_version=4)
    written = []
    for student, bodies in ANSWERS.items():
        path = Path(folder) / student / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(fill(edition, bodies), path)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="where to write <student>/<notebook>.ipynb")
    for path in write_examples(parser.parse_args().folder):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
