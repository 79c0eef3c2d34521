"""The Korean edition of the book: complete, faithful to the glossary, and readable in a browser.

The catalogues (book/locales/ko/, scripts/translations.py) are checked against the English text
the book has now: every message translated, none fuzzy, none left over; every translation keeps
the English message's math, code, roles, link targets and rendered emphasis, and uses the
glossary's Korean for the key terms. Then both editions are built (scripts/build_book.py) and
read: Korean pages declare Korean, every page of either edition links the same page in the other,
and Chromium (tests/book_browser.py) typesets the math, finds Korean words behind their particles
in the search, keeps the solutions collapsed, follows the switch, and saves screenshots of the
Korean intro, notebook 03 and the glossary to book/_build/screenshots/.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote_plus

import nbformat
import pytest
from book_browser import (
    SOLUTION_STATE_JS,
    SOLUTIONS,
    DevTools,
    math_problems,
    pages,
    screenshot_settled_page,
    soup,
)
from script_modules import load_script

from course_lib.authoring.book_editions import ENGLISH, KOREAN
from course_lib.authoring.korean_search import HANGUL_SYLLABLE, SUFFIXES, SearchKorean

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
SCREENSHOTS = BOOK / "_build" / "screenshots"
BUILD_TIMEOUT_S = 900

translations = load_script("translations")
build_book = load_script("build_book")


# ----------------------------------------------------------------------------- the catalogues
@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> Path:
    """The English messages of the book as it is now (Sphinx's gettext builder)."""
    return translations.message_templates(tmp_path_factory.mktemp("messages"))


def test_every_message_is_translated(templates: Path):
    report = translations.coverage(templates)
    total = sum(c.total for c in report)
    translated = sum(c.translated for c in report)
    print(f"Korean: {translated} of {total} messages translated in {len(report)} catalogues")
    assert len(report) == len(build_book.toc_files()), (
        "a page of the table of contents has no messages"
    )
    fuzzy = {c.page: c.fuzzy for c in report if c.fuzzy}
    if fuzzy:  # reported with the missing ones: Sphinx shows the English for a fuzzy entry
        print(
            "fuzzy (translations of an older English text):\n"
            + "\n".join(
                f"  {page}: {len(ids)}, e.g. {ids[0][:80]!r}" for page, ids in fuzzy.items()
            )
        )
    untranslated = {c.page: c.missing + c.fuzzy for c in report if c.missing or c.fuzzy}
    assert translated == total, (
        f"{total - translated} of {total} messages have no Korean in use "
        f"({100 * translated / total:.1f} % translated); run `make translations`, then translate "
        "the empty and fuzzy entries of book/locales/ko/LC_MESSAGES/:\n"
        + "\n".join(
            f"  {page}: {len(ids)}, e.g. {ids[0][:100]!r}" for page, ids in untranslated.items()
        )
    )


def test_run_outputs_stay_out_and_figure_descriptions_go_in(templates: Path):
    """A notebook's outputs (its printed and Markdown results) are shared by both editions, so
    none is a message; its figures' captions and alt texts (cell metadata) are."""
    notebook = nbformat.read(ROOT / "notebooks" / "03_variational_autoencoder.ipynb", as_version=4)
    results = [
        line.strip()
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        for line in output.get("data", {}).get("text/markdown", "").splitlines()
        if len(line.strip()) > 20
    ]
    figures = [
        cell.metadata["mystnb"]
        for cell in notebook.cells
        if "figure" in cell.metadata.get("mystnb", {})
    ]
    messages = {
        m.id
        for m in translations.read_catalogue(
            templates / "notebooks" / "03_variational_autoencoder.pot"
        )
    }
    assert results and figures
    assert not [line for line in results if line in messages]
    for figure in figures:
        assert figure["figure"]["caption"] in messages
        assert figure["image"]["alt"] in messages


def test_catalogues_hold_only_the_books_messages(templates: Path):
    """No catalogue keeps a message the book no longer has (the English is the only source)."""
    stale = {}
    for po in sorted(translations.CATALOGUES.rglob("*.po")):
        page = po.relative_to(translations.CATALOGUES).with_suffix("").as_posix()
        template = templates / f"{page}.pot"
        current = (
            {m.id for m in translations.read_catalogue(template)} if template.is_file() else set()
        )
        extra = [m.id for m in translations.read_catalogue(po) if m.id and m.id not in current]
        if extra:
            stale[page] = extra
    assert not stale, (
        "catalogue entries for text the book no longer has (run `make translations`):\n"
        + ("\n".join(f"  {page}: {ids[0][:100]!r}" for page, ids in stale.items()))
    )


def test_coverage_reports_new_and_changed_paragraphs(tmp_path: Path):
    """Negative control: a paragraph without a catalogue entry is missing, an entry marked fuzzy
    is not counted as translated, and a page without a catalogue is missing entirely."""
    templates, catalogues = tmp_path / "gettext", tmp_path / "LC_MESSAGES"
    templates.mkdir()
    catalogues.mkdir()
    (templates / "page.pot").write_text(
        'msgid ""\nmsgstr ""\n\nmsgid "Old paragraph."\nmsgstr ""\n\nmsgid "Changed one."\n'
        'msgstr ""\n\nmsgid "New paragraph."\nmsgstr ""\n',
        encoding="utf-8",
    )
    (templates / "other.pot").write_text('msgid "Alone."\nmsgstr ""\n', encoding="utf-8")
    (catalogues / "page.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Old paragraph."\nmsgstr "옛 문단."\n\n'
        '#, fuzzy\nmsgid "Changed one."\nmsgstr "바뀐 것."\n',
        encoding="utf-8",
    )
    report = {c.page: c for c in translations.coverage(templates, catalogues)}
    assert (report["page"].total, report["page"].translated) == (3, 1)
    assert report["page"].missing == ["New paragraph."]
    assert report["page"].fuzzy == ["Changed one."]
    assert report["other"].missing == ["Alone."]


def test_translations_keep_math_code_links_and_key_terms():
    report = translations.check(sorted(translations.CATALOGUES.rglob("*.po")))
    assert not report, (
        f"{len(report)} translations to mend (scripts/translations.py check):\n"
        + "\n".join(
            f"  {where}\n    " + "\n    ".join(wrong) for where, wrong in list(report.items())[:30]
        )
    )


def test_the_same_english_reads_the_same_in_korean_everywhere():
    """A heading or sentence that several pages share (Setup, Exercises, the notebooks' opening
    lines) has one Korean translation, except where a page keeps it in English on purpose (the
    glossary's headwords)."""
    translated: dict[str, dict[str, str]] = {}
    for po in sorted(translations.CATALOGUES.rglob("*.po")):
        for message in translations.read_catalogue(po):
            if message.id and message.string and message.string != message.id:
                translated.setdefault(message.id, {})[po.stem] = message.string
    differing = {
        english: pages for english, pages in translated.items() if len(set(pages.values())) > 1
    }
    assert not differing, "\n".join(
        f"{english[:60]!r}: "
        + "; ".join(f"{page}: {korean[:40]!r}" for page, korean in pages.items())
        for english, pages in differing.items()
    )


@pytest.mark.parametrize(
    "korean, wrong",
    [
        ("**변형 오토인코더**는 $z \\sim N(0, 1)$를 쓴다.", "math"),  # the math was edited
        ("**변형 오토인코더**는 $z \\sim N(0, I)$와 `fit`을 쓴다.", "code"),
        ("**변형 오토인코더**는 $z \\sim N(0, I)$를 [본다](other.md).", "link targets"),
        ("**변형 오토인코더(VAE)**는 $z \\sim N(0, I)$를 [본다](sources.md).", "bold/italic"),
        ("**변분 오토인코더**는 $z \\sim N(0, I)$를 [본다](sources.md).", "key term"),
        ("**변형 오토인코더**는 {cite}`kim` $z \\sim N(0, I)$를 [본다](sources.md).", "role"),
    ],
)
def test_check_catches_what_breaks_a_translation(korean: str, wrong: str):
    english = "The **variational autoencoder** uses $z \\sim N(0, I)$; see [the page](sources.md)."
    good = "**변형 오토인코더**는 $z \\sim N(0, I)$를 쓴다. [이 쪽](sources.md)을 보라."
    assert translations.problems(english, good) == []
    found = translations.problems(english, korean)
    assert any(problem.startswith(wrong) for problem in found), found


def test_key_terms_are_the_glossarys_korean():
    """Each required Korean form is quoted in the glossary, in the entry whose headwords name the
    English term (or, for a term that is no headword, an entry whose text names it)."""
    glossary = (BOOK / "glossary.md").read_text(encoding="utf-8").replace("**", "")
    entries = re.split(r"\n\s*\n", glossary[glossary.index("```{glossary}") :])
    problems = []
    for term, forms in translations.KEY_TERMS.items():
        pattern = translations.TERM_PATTERNS[term]
        headwords = [
            [line for line in entry.splitlines() if line and not line[0].isspace()]
            for entry in entries
        ]
        holders = [e for e, heads in zip(entries, headwords) if any(map(pattern.fullmatch, heads))]
        holders = holders or [entry for entry in entries if pattern.search(entry)]
        for form in forms:
            if not any(form in entry for entry in holders):
                problems.append(f"{term} -> {form}: not in the glossary entry for {term!r}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------ the two editions
@pytest.fixture(scope="module")
def site_root(tmp_path_factory) -> Path:
    """Both editions built as they are published: English at the root, Korean in ko/."""
    out = tmp_path_factory.mktemp("book_editions")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_book.py"), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    print(f"both editions built in {time.perf_counter() - start:.1f} s")
    if done.returncode != 0:
        pytest.fail(f"the book build failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return out / "html"


@pytest.fixture(scope="module")
def korean(site_root: Path) -> Path:
    return site_root / KOREAN.folder


def content_pages(html: Path) -> list[str]:
    """The edition's pages without index.html, which only sends the browser to intro.html."""
    return [page for page in pages(html) if page != "index.html"]


def test_both_editions_have_the_same_pages(site_root: Path, korean: Path):
    assert pages(korean) == pages(site_root)
    assert "notebooks/03_variational_autoencoder.html" in pages(korean)


def test_korean_pages_declare_korean_and_english_pages_english(site_root: Path, korean: Path):
    wrong = []
    for html, language in ((korean, "ko"), (site_root, "en")):
        for page in content_pages(html):
            tag = soup((html / page).read_text(encoding="utf-8")).html
            if tag.get("lang") != language:
                wrong.append(f"{html.name}/{page}: lang={tag.get('lang')!r}")
    assert not wrong, "\n".join(wrong)


def test_every_page_links_the_same_page_in_the_other_edition(site_root: Path, korean: Path):
    problems = []
    for html, other_root, other in ((site_root, korean, KOREAN), (korean, site_root, ENGLISH)):
        for page in content_pages(html):
            links = soup((html / page).read_text(encoding="utf-8")).select("a.language-switch")
            if len(links) != 1:
                problems.append(f"{page} ({html.name}): {len(links)} language switch links")
                continue
            link = links[0]
            target = ((html / page).parent / link["href"]).resolve()
            if target != (other_root / page).resolve() or not target.is_file():
                problems.append(f"{page} ({html.name}): the switch leads to {link['href']}")
            if (link.get("hreflang"), link.get_text(strip=True)) != (other.language, other.label):
                problems.append(f"{page} ({html.name}): switch says {link.get_text(strip=True)!r}")
    assert not problems, "\n".join(problems)


def test_korean_figures_have_korean_captions_and_alt_text(korean: Path):
    """Figures are shared, their descriptions are not: a notebook figure's alt text and caption
    are Korean in the Korean edition."""
    english_only, figures = [], 0
    for name in build_book.toc_files():
        if not name.startswith("notebooks/"):
            continue
        page = soup((korean / f"{name}.html").read_text(encoding="utf-8"))
        for figure in page.select("article figure"):
            figures += 1
            texts = [img.get("alt", "") for img in figure.select("img")]
            texts += [caption.get_text(" ") for caption in figure.select("figcaption")]
            english_only += [
                f"{name}: {text[:70]!r}" for text in texts if not HANGUL_SYLLABLE.search(text)
            ]
    assert figures > 50
    assert not english_only, "figure descriptions left in English:\n" + "\n".join(english_only)


def test_the_table_of_contents_is_translated(site_root: Path, korean: Path):
    """The sidebar's section captions (from _toc.yml) read in each edition's language."""
    for html, expected in (
        (site_root, ["Notebooks", "Reference"]),
        (korean, ["노트북", "참고 자료"]),
    ):
        page = soup(
            (html / "notebooks/03_variational_autoencoder.html").read_text(encoding="utf-8")
        )
        assert [c.get_text(strip=True) for c in page.select("nav .caption-text")] == expected


def hangul_share(html_text: str) -> float:
    """The share of Hangul among the letters of a page's prose: its paragraphs, list items,
    headings and table cells, without code, outputs and math."""
    article = soup(html_text).select_one("article") or soup(html_text)
    for element in article.select("pre, code, .cell_output, .math, script, style"):
        element.decompose()
    text = " ".join(el.get_text(" ") for el in article.select("p, li, h1, h2, h3, td, th, dd"))
    hangul = len(HANGUL_SYLLABLE.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return hangul / max(hangul + latin, 1)


def test_korean_pages_read_in_korean(site_root: Path, korean: Path):
    """The translations are applied: the prose of each page of the table of contents is mostly
    Hangul in the Korean edition (names such as VAE, MNIST and PyTorch stay Latin), and next to
    none in the English one. The bibliography is left out: its entries are the papers' titles."""
    low = {}
    for name in build_book.toc_files():
        if name != "bibliography":
            share = hangul_share((korean / f"{name}.html").read_text(encoding="utf-8"))
            if share < 0.6:
                low[name] = round(share, 3)
    assert not low, f"Korean pages whose prose is not mostly Korean (share of Hangul): {low}"
    assert hangul_share((site_root / "notebooks/05_gan.html").read_text(encoding="utf-8")) < 0.05


# --------------------------------------------------------------------------------- the search
@pytest.mark.parametrize(
    "words",
    [
        ["판별자", "판별자가", "판별자를", "판별자의"],
        ["오토인코더", "오토인코더는", "오토인코더에서는"],
        ["평가", "평가를"],
        ["학습", "학습한다", "학습하는"],
    ],
)
def test_korean_stemmer_gives_one_stem_to_a_word_and_its_particles(words: list[str]):
    stem = SearchKorean({}).stem
    assert len({stem(word) for word in words}) == 1, {word: stem(word) for word in words}


def test_korean_stemmer_leaves_english_to_porter():
    stem = SearchKorean({}).stem
    assert stem("Autoencoders") == stem("autoencoder") == "autoencod"
    assert stem("VAE의") == "vae"
    assert all(stem(suffix) for suffix in SUFFIXES)  # a word is never stripped to nothing


def test_the_browser_stems_as_the_index_did(korean: Path, devtools: DevTools, serve):
    """The reader's query goes through the JavaScript copy of the stemmer; it must agree with the
    Python one that built the index, word for word."""
    words = [
        "판별자를", "오토인코더에서는", "평가를", "학습한다", "잠재", "공간의", "VAE의",
        "autoencoders를", "Discriminators", "가중치", "크리틱이", "에포크마다", "보다",
    ]  # fmt: skip
    devtools.open(serve(korean) + "search.html")
    devtools.wait_for("typeof Stemmer !== 'undefined'")
    in_browser = devtools.evaluate(
        "(() => { const s = new Stemmer(); return %s.map(w => s.stemWord(w.toLowerCase())); })()"
        % str(words)
    )
    stem = SearchKorean({}).stem
    assert in_browser == [stem(word) for word in words]


@pytest.mark.parametrize(
    "query, page",
    [
        ("판별자를", "notebooks/05_gan.html"),
        ("대조분기", "notebooks/04_rbm_and_dbn.html"),
        ("그람 행렬", "notebooks/10_neural_style_transfer.html"),
    ],
)
def test_korean_search_finds_words_behind_their_particles(
    korean: Path, browser, serve, query: str, page: str
):
    dom = browser(serve(korean) + "search.html?q=" + quote_plus(query))
    found = [link.get("href", "") for link in soup(dom).select("ul.search li a")]
    assert any(href.startswith(page) for href in found), f"searching {query!r} listed {found[:5]}"


# ------------------------------------------------------------------------------- in the browser
KOREAN_KEY_PAGES = {  # screenshot name -> page
    "ko_intro": "intro.html",
    "ko_notebook_03_vae": "notebooks/03_variational_autoencoder.html",
    "ko_glossary": "glossary.html",
}


def test_korean_math_is_typeset(korean: Path, browser, serve):
    site = serve(korean)
    problems, typeset = [], 0
    for page in pages(korean):
        if soup((korean / page).read_text(encoding="utf-8")).select_one(".math") is None:
            continue
        dom = browser(site + page)
        typeset += len(soup(dom).find_all("mjx-container"))
        problems += [f"{page}: {problem}" for problem in math_problems(dom)]
    assert not problems, "\n".join(problems)
    assert typeset > 0


def test_korean_solutions_stay_collapsed_until_clicked(korean: Path, devtools: DevTools, serve):
    devtools.open(serve(korean) + "notebooks/05_gan.html")
    shown = devtools.evaluate(SOLUTION_STATE_JS)
    assert shown and not any(shown), f"solutions shown before a click: {shown}"
    devtools.click(f":is({SOLUTIONS}) > :is(.admonition-title, summary)")
    devtools.wait_for(f"({SOLUTION_STATE_JS})[0]", timeout=5)
    assert not any(devtools.evaluate(SOLUTION_STATE_JS)[1:])


def test_the_switch_takes_the_reader_to_the_same_page(site_root: Path, devtools: DevTools, serve):
    site = serve(site_root)
    page = "notebooks/03_variational_autoencoder.html"
    devtools.open(site + KOREAN.folder + "/" + page)
    devtools.click("a.language-switch")
    devtools.wait_for(f"location.href === '{site + page}' && document.readyState === 'complete'")
    assert devtools.evaluate("document.documentElement.lang") == "en"
    devtools.click("a.language-switch")
    devtools.wait_for(f"location.href === '{site + KOREAN.folder + '/' + page}'")
    devtools.wait_for("document.readyState === 'complete'")
    assert devtools.evaluate("document.documentElement.lang") == "ko"


def test_screenshots_of_korean_key_pages(korean: Path, devtools: DevTools, serve):
    """Full-page screenshots of the Korean intro, notebook 03 and the glossary, after MathJax,
    fonts and images settled, for a person to look at."""
    fonts = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True)
    if not fonts.stdout.strip():
        pytest.skip("no Korean font: install one (apt-get install fonts-nanum; .ci/run does)")
    site = serve(korean)
    for name, page in KOREAN_KEY_PAGES.items():
        screenshot_settled_page(devtools, site + page, SCREENSHOTS / f"{name}.png")
        assert devtools.evaluate("document.documentElement.lang") == "ko"
    print(f"screenshots in {SCREENSHOTS}")
