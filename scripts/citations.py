"""Citations that read alike in JupyterLab, the book and the slides: author-year paper links.

JupyterLab's MyST renderer (jupyterlab-myst) cannot resolve a ``{cite}`key``` role, because it has
no bibliography: it shows the bare key with a warning sign. So the notebooks cite in plain
Markdown, with the text and the link made from ``book/references.bib`` (the entry's DOI, else its
``url``), and the book's bibliography page lists every entry of that file:

* parenthetical: ``the VAE ([Kingma and Welling, 2014](https://doi.org/...))``;
* inside parentheses already: ``(see also [Bourlard and Kamp, 1988](https://doi.org/...))``;
* narrative, where the text already names the authors:
  ``[Burda et al. (2016)](https://doi.org/...)``.

    python scripts/citations.py --write   # turn {cite} roles in the notebooks into such links
    python scripts/citations.py           # check: no roles left, every link matches the .bib

The check is also a test (tests/test_book.py), so a changed .bib entry and its citations cannot
drift apart.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from pybtex.database import parse_file

ROOT = Path(__file__).resolve().parent.parent
REFERENCES = ROOT / "book" / "references.bib"
NOTEBOOKS = ROOT / "notebooks"

# A role, with the words before it (a narrative citation repeats the authors) and the
# character after it.
CITE_ROLE = re.compile(
    r"(?P<before>[^\s({`]+(?: [^\s({`]+){0,2} )?\{cite(?::\w+)?\}`(?P<keys>[^`]+)`(?=(?P<after>.?))"
)
# One citation link: [Authors, 1999](link) or [Authors (1999)](link).
CITATION_LINK = re.compile(
    r"\[(?P<authors>[^\[\]]+?)(?:, | \()(?P<year>(?:1[89]|20)\d\d)\)?\]\((?P<link>[^\s)]+)\)"
)


@dataclass(frozen=True)
class Reference:
    key: str
    authors: str  # "Hinton", "Kingma and Welling", "Hinton et al."
    year: str
    link: str  # https://doi.org/<doi>, else the entry's url

    @property
    def author_year(self) -> str:
        return f"{self.authors}, {self.year}"


def _surname(person) -> str:
    # pybtex keeps LaTeX braces and accents as written; the course's .bib writes accents in Unicode.
    return " ".join(person.prelast_names + person.last_names).replace("{", "").replace("}", "")


def load_references(path: Path = REFERENCES) -> dict[str, Reference]:
    """Every entry of ``path`` as a ``Reference``; an entry with neither DOI nor url is an error."""
    references = {}
    for key, entry in parse_file(str(path)).entries.items():
        surnames = [_surname(person) for person in entry.persons.get("author", [])]
        if len(surnames) == 1:
            authors = surnames[0]
        elif len(surnames) == 2:
            authors = f"{surnames[0]} and {surnames[1]}"
        else:
            authors = f"{surnames[0]} et al."
        if "doi" in entry.fields:
            # Parentheses in a DOI would end a Markdown link early: percent-encode them.
            link = "https://doi.org/" + entry.fields["doi"].replace("(", "%28").replace(")", "%29")
        elif "url" in entry.fields:
            link = entry.fields["url"]
        else:
            raise ValueError(
                f"{path}: entry {key} has neither a doi nor a url field; add one so citations can "
                "link to it."
            )
        references[key] = Reference(key, authors, entry.fields["year"], link)
    return references


def citation(keys: str, references: dict[str, Reference], before: str = "", after: str = "") -> str:
    """The Markdown for ``{before}{cite}`keys`{after}``
    (see the module docstring for the three forms)."""
    cited = []
    for key in (part.strip() for part in keys.split(",")):
        if key not in references:
            raise KeyError(f"{key} is not in {REFERENCES.relative_to(ROOT)}; add the entry first.")
        cited.append(references[key])
    if len(cited) == 1 and before.strip() == cited[0].authors:
        return f"[{cited[0].authors} ({cited[0].year})]({cited[0].link})"
    links = "; ".join(f"[{reference.author_year}]({reference.link})" for reference in cited)
    return before + (links if after == ")" else f"({links})")


def with_links(markdown: str, references: dict[str, Reference]) -> str:
    """``markdown`` with every ``{cite}`...``` role replaced by author-year links."""
    return CITE_ROLE.sub(
        lambda match: citation(match["keys"], references, match["before"] or "", match["after"]),
        markdown,
    )


def problems(markdown: str, references: dict[str, Reference]) -> list[str]:
    """What is wrong with the citations in ``markdown``: roles left, or links unlike the .bib."""
    found = [
        f"a {{cite}} role ({match[0].strip()}), which JupyterLab shows raw"
        for match in CITE_ROLE.finditer(markdown)
    ]
    by_link = {reference.link: reference for reference in references.values()}
    for match in CITATION_LINK.finditer(markdown):
        reference = by_link.get(match["link"])
        if reference is None:
            found.append(f"{match[0]} links to no entry of {REFERENCES.name}")
        elif (match["authors"], match["year"]) != (reference.authors, reference.year):
            found.append(f"{match[0]} should name {reference.author_year} ({reference.key})")
    return found


def cited_keys(markdown: str, references: dict[str, Reference]) -> set[str]:
    """The entries that ``markdown`` cites with author-year links."""
    by_link = {reference.link: key for key, reference in references.items()}
    return {
        by_link[match["link"]]
        for match in CITATION_LINK.finditer(markdown)
        if match["link"] in by_link
    }


def markdown_of(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--write", action="store_true", help="replace {cite} roles in notebooks/*.ipynb by links"
    )
    args = parser.parse_args(argv)
    references = load_references()
    failures = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        if args.write:
            for cell in notebook.cells:
                if cell.cell_type == "markdown":
                    cell.source = with_links(cell.source, references)
            nbformat.write(notebook, path)
        failures += [
            f"{path.name}: {problem}" for problem in problems(markdown_of(notebook), references)
        ]
    print(
        "\n".join(failures)
        or "every citation in the notebooks is an author-year link that matches the .bib"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
