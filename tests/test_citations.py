"""Citations in the notebooks: author-year links made from book/references.bib
(scripts/citations.py).

JupyterLab cannot resolve a {cite} role, so the notebooks carry plain Markdown links; these tests
check the text and links against the .bib file, read here with pybtex independently of the script's
formatting, and check that every notebook's citations still agree with the .bib.
"""

from __future__ import annotations

import json

import pytest
from pybtex.database import parse_file
from script_modules import load_script

from course_lib.runtime.config import REPO_ROOT

citations = load_script("citations")

REFERENCES = citations.load_references()


def test_author_year_follows_the_number_of_authors():
    assert REFERENCES["hinton2002training"].author_year == "Hinton, 2002"
    assert REFERENCES["kingma2014auto"].author_year == "Kingma and Welling, 2014"
    assert REFERENCES["hinton2006fast"].author_year == "Hinton et al., 2006"
    assert (
        REFERENCES["donahue2017adversarial"].authors == "Donahue et al."
    )  # Krähenbühl: Unicode kept


def test_every_entry_links_to_its_doi_or_its_url():
    entries = parse_file(str(citations.REFERENCES)).entries
    assert set(REFERENCES) == set(entries)
    for key, entry in entries.items():
        link = REFERENCES[key].link
        if "doi" in entry.fields:
            assert link.startswith("https://doi.org/") and "(" not in link and ")" not in link
            assert (
                link.replace("%28", "(").replace("%29", ")")
                == "https://doi.org/" + entry.fields["doi"]
            )
        else:
            assert link == entry.fields["url"] and link.startswith("https://")


def test_the_three_forms_of_a_citation():
    kingma, burda = REFERENCES["kingma2014auto"], REFERENCES["burda2016importance"]
    text = (
        "The VAE {cite}`kingma2014auto` is a model. Burda et al. {cite}`burda2016importance` "
        "bound it (see also {cite}`kingma2014auto,burda2016importance`)."
    )
    assert citations.with_links(text, REFERENCES) == (
        f"The VAE ([Kingma and Welling, 2014]({kingma.link})) is a model. "
        f"[Burda et al. (2016)]({burda.link}) bound it "
        f"(see also [Kingma and Welling, 2014]({kingma.link}); [Burda et al., 2016]({burda.link}))."
    )


def test_an_unknown_key_is_an_error_that_names_it():
    with pytest.raises(KeyError, match="nobody2099"):
        citations.with_links("{cite}`nobody2099`", REFERENCES)


def test_problems_finds_roles_wrong_text_and_links_to_no_entry():
    link = REFERENCES["kingma2014auto"].link
    assert citations.problems(f"([Kingma and Welling, 2014]({link}))", REFERENCES) == []
    assert citations.problems(f"[Kingma and Welling (2014)]({link})", REFERENCES) == []
    found = citations.problems(
        f"{{cite}}`kingma2014auto` ([Kingma, 2013]({link})) ([Smith, 2001](https://example.org/x))",
        REFERENCES,
    )
    assert len(found) == 3
    assert "JupyterLab shows raw" in found[0]
    assert "should name Kingma and Welling, 2014" in found[1]
    assert "links to no entry" in found[2]


def test_every_notebook_cites_with_links_that_agree_with_the_bibliography():
    failures = []
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        markdown = "\n".join(
            "".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"
        )
        failures += [
            f"{path.name}: {problem}" for problem in citations.problems(markdown, REFERENCES)
        ]
        assert citations.cited_keys(markdown, REFERENCES), f"{path.name} cites no paper"
    assert failures == [], "\n".join(failures)
