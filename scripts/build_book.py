"""Build the Jupyter Book offline: ``python scripts/build_book.py [--out DIR] [--language L]``.

Two editions from the same sources: English in DIR/html, Korean in DIR/html/ko (the English text
replaced by the translations of ``book/locales/ko/``, see ``scripts/translations.py``), the same
layout as the published site, so each page's language switch works offline. ``--language en`` or
``ko`` builds one of them.

Four steps (after checking ``COURSE_REPOSITORY_URL``, see below):

1. MathJax 3 and ONNX Runtime Web are fetched once with ``npm pack`` into the git-ignored cache
   ``book/_vendor/``, checked against pinned SHA-512s (``scripts/npm_assets.py``), and unpacked
   where ``book/_config.yml`` publishes them. (Sphinx's default MathJax comes from a CDN, which an
   offline reader cannot reach; the live demos run their models with ONNX Runtime Web.)
2. The live demos (``book/demos.md``): their JavaScript (``book/_demos/``) and the models the
   notebooks exported in the book profile (``notebooks/exported/book/``, each checked against the
   SHA-256 of its record) are copied to ``_static/demos/``.
3. ``notebooks/*.ipynb`` are copied into ``book/notebooks/`` (git-ignored): Sphinx only reads
   sources under ``book/``. A copy, not a symlink, so the build sees one tree on every platform.
   A notebook links a book page as ``../book/PAGE.md`` (so that the link opens in JupyterLab);
   the copy links it as ``../PAGE.md``, its place in the book.
4. Jupyter Book builds each edition with warnings as errors (``-W --keep-going``) from the
   notebooks' stored outputs; nothing is executed.

Launch buttons: with ``COURSE_REPOSITORY_URL=https://github.com/OWNER/REPO`` set (the GitHub Pages
workflow sets it), the book is built from a copy of ``book/_config.yml`` written to
``DIR/_config.derived.yml`` that adds the repository URL, the Binder and Colab launch buttons on
notebook pages and the repository button. The buttons open the branch ``book``
(``course_lib.authoring.colab.LAUNCH_BRANCH``), which the workflow pushes: the book's commit with
the notebooks of ``DIR/launch/notebooks/``, copies whose first cell installs the course package on
Colab from this repository at this commit. Unset or empty, ``book/_config.yml`` is used as it is:
no launch buttons, no link that needs the network.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
import yaml
from filelock import FileLock

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by a test
from npm_assets import MATHJAX, ONNXRUNTIME_WEB, VENDOR, AssetError, unpack  # noqa: E402

from course_lib.authoring.book_editions import EDITIONS, edition_of  # noqa: E402
from course_lib.authoring.colab import LAUNCH_BRANCH, fill_colab_cell  # noqa: E402
from course_lib.runtime.checksums import sha256_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
BOOK_NOTEBOOKS = BOOK / "notebooks"  # the copy that Sphinx reads (git-ignored)
# Held while a build copies the notebooks into BOOK_NOTEBOOKS and Sphinx reads them, so that two
# builds at once (a test session's workers, `make book` beside `make translations`) take turns.
SOURCES_LOCK = BOOK / "_build" / "sources.lock"

# html_extra_path in _config.yml copies _vendor/html_extra/ into the output root, so this folder
# becomes _static/ there: MathJax in _static/mathjax/ (where Sphinx resolves mathjax_path
# "mathjax/tex-chtml.js"), ONNX Runtime Web in _static/onnxruntime/, the demos in _static/demos/.
STATIC = VENDOR / "html_extra" / "_static"
PACKAGES = (MATHJAX, ONNXRUNTIME_WEB)
PACKAGES_STAMP = VENDOR / "packages.unpacked"  # which verified tarballs STATIC was unpacked from
# The live demos: the widget library (in git) and the models the notebooks exported in the book
# profile (course_lib.export.browser), published under _static/demos/.
DEMOS_SOURCE = BOOK / "_demos"
EXPORTED = NOTEBOOKS / "exported" / "book"
DEMOS = STATIC / "demos"

# The one setting that turns on the launch buttons; .github/workflows/book.yml fills it in.
REPOSITORY_ENV = "COURSE_REPOSITORY_URL"
# Colab opens notebooks only from github.com, and sphinx-book-theme's Binder and Colab links expect
# https://github.com/OWNER/REPO, so nothing else is accepted. OWNER and REPO follow GitHub's
# naming rules.
GITHUB_REPOSITORY_URL = re.compile(
    r"https://github\.com/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/(?P<repo>[A-Za-z0-9._-]+)"
)
BINDERHUB_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"

# Files a notebook may reference next to itself (figures); everything else stays out of the book.
NOTEBOOK_SUFFIXES = {".ipynb", ".png", ".jpg", ".jpeg", ".gif", ".svg"}
# How a notebook links a page of the book, e.g. [Sources](../book/sources.md), and how the copy
# in book/notebooks/ must link it.
BOOK_LINK, BOOK_LINK_IN_BOOK = "](../book/", "](../"


class BuildError(RuntimeError):
    """A build step failed; the message says what to do."""


# ------------------------------------------------------------------------------- vendored assets
def ensure_packages() -> None:
    """Make the verified MathJax and ONNX Runtime Web files available to the book, unpacking
    them again only when a pin changed or a file is missing (downloading at most once)."""
    stamp = "\n".join(p.integrity for p in PACKAGES)
    kept = [STATIC / path for p in PACKAGES for path in p.keep.values()]
    if PACKAGES_STAMP.is_file() and PACKAGES_STAMP.read_text() == stamp:
        if all(path.exists() for path in kept):
            return
    unpack(PACKAGES, STATIC)
    PACKAGES_STAMP.write_text(stamp)
    print(", ".join(f"{p.name} {p.version}" for p in PACKAGES) + " verified and unpacked.")


def publish_demos() -> None:
    """Copy the demos' JavaScript and the book profile's exported models into _static/demos/,
    after checking each model against the SHA-256 its record gives."""
    records = sorted(EXPORTED.glob("*.json"))
    wanted = re.findall(r'data-model="([^"]+)"', (BOOK / "demos.md").read_text(encoding="utf-8"))
    missing = [name for name in wanted if not (EXPORTED / f"{name}.json").is_file()]
    if missing:
        raise BuildError(
            f"book/demos.md shows {', '.join(missing)}, but {EXPORTED} has no record of "
            f"{'it' if len(missing) == 1 else 'them'}: export the model (see the record's "
            "notebook or script) or take its demo off the page."
        )
    if not records:
        raise BuildError(
            f"No exported models in {EXPORTED}: the live demos need them. They come with the "
            "repository; to make them again, run notebooks 03, 06, 08 and 09 in the book "
            "profile (make execute NB=... PROFILE=book)."
        )
    shutil.rmtree(DEMOS, ignore_errors=True)
    shutil.copytree(DEMOS_SOURCE, DEMOS)
    models = DEMOS / "models"
    models.mkdir()
    for record_path in records:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        model = EXPORTED / record["file"]
        if not model.is_file() or sha256_of(model) != record["sha256"]:
            source = record.get("trained_by") or f"notebook {record['notebook']} (book profile)"
            raise BuildError(
                f"{model} is missing or does not match the SHA-256 in {record_path.name}; "
                f"export it again: {source}."
            )
        names = [record_path.name, model.name]
        if "examples" in record:
            names.append(record["examples"]["file"])
        for name in names:
            shutil.copy2(EXPORTED / name, models / name)


# --------------------------------------------------------------------------------------- notebooks
def toc_files(toc: Path = BOOK / "_toc.yml") -> list[str]:
    """Every ``file:`` (and the ``root:``) named in a Jupyter Book TOC, in order."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file") and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(toc.read_text(encoding="utf-8")))
    return found


def relink_book_pages(notebook: nbformat.NotebookNode, target: str) -> None:
    """Point the notebook's links to book pages (``](../book/``) at ``target`` instead."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace(BOOK_LINK, target)


def copy_for_book(src: Path, dest: Path) -> None:
    """Copy one file into book/notebooks/; a notebook's links to book pages are made relative
    to its place there. The modification time is kept, so Sphinx sees a notebook as changed only
    when it changed."""
    if src.suffix.lower() != ".ipynb":
        shutil.copy2(src, dest)
        return
    notebook = nbformat.read(src, as_version=nbformat.NO_CONVERT)
    relink_book_pages(notebook, BOOK_LINK_IN_BOOK)
    nbformat.write(notebook, dest)
    shutil.copystat(src, dest)


def sync_notebooks() -> None:
    """Replace book/notebooks/ by a fresh copy of notebooks/ (notebooks and their figures)."""
    shutil.rmtree(BOOK_NOTEBOOKS, ignore_errors=True)
    for src in sorted(NOTEBOOKS.rglob("*")):
        rel = src.relative_to(NOTEBOOKS)
        hidden = any(
            part.startswith((".", "_")) for part in rel.parts
        )  # .ipynb_checkpoints, __pycache__
        if src.is_file() and not hidden and src.suffix.lower() in NOTEBOOK_SUFFIXES:
            dest = BOOK_NOTEBOOKS / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            copy_for_book(src, dest)


@contextmanager
def book_sources():
    """The notebooks copied into book/notebooks/, for this process alone until the block ends."""
    SOURCES_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(SOURCES_LOCK):
        sync_notebooks()
        yield


def check_toc() -> None:
    """Fail early, with names, if the TOC and notebooks/ disagree."""
    listed = {f for f in toc_files() if f.startswith("notebooks/")}
    present = {f"notebooks/{p.stem}" for p in NOTEBOOKS.glob("*.ipynb")}
    if listed - present:
        raise BuildError(
            f"book/_toc.yml lists {sorted(listed - present)}, but there is no such "
            "notebook in notebooks/. Remove the entry or add the notebook."
        )
    for name in sorted(present - listed):
        print(f"NOTE: {name}.ipynb is not in book/_toc.yml, so it is not in the book.")


# ---------------------------------------------------------------------------------- launch buttons
def repository_url(environ: dict[str, str] | None = None) -> str | None:
    """The checked ``COURSE_REPOSITORY_URL``, without a trailing slash; None if unset or empty."""
    raw = (os.environ if environ is None else environ).get(REPOSITORY_ENV, "").strip()
    if not raw:
        return None
    url = raw.rstrip("/")
    match = GITHUB_REPOSITORY_URL.fullmatch(url)
    if match is None or match["repo"] in (".", "..") or match["repo"].endswith(".git"):
        raise BuildError(
            f"{REPOSITORY_ENV}={raw!r} is not a GitHub repository URL of the form "
            "https://github.com/OWNER/REPO (no .git, no further path). Fix it, or unset "
            f"{REPOSITORY_ENV} to build the book without launch buttons."
        )
    return url


def derive_config(config: dict, repo_url: str | None) -> dict:
    """The book configuration for ``repo_url``: a copy of ``config``, unchanged when it is None.

    Only the repository URL, the launch branch, the two launch services and the repository button
    change; the notebook interface and ``path_to_book`` stay as book/_config.yml sets them."""
    derived = copy.deepcopy(config)
    if repo_url is None:
        return derived
    derived.setdefault("repository", {})["url"] = repo_url
    derived["repository"]["branch"] = LAUNCH_BRANCH
    launch = derived.setdefault("launch_buttons", {})
    launch["binderhub_url"] = BINDERHUB_URL
    launch["colab_url"] = COLAB_URL
    derived.setdefault("html", {})["use_repository_button"] = True
    return derived


def book_config(out: Path, environ: dict[str, str] | None = None) -> Path:
    """The configuration to build with: book/_config.yml, or its derived copy in ``out``."""
    repo_url = repository_url(environ)
    path = out / "_config.derived.yml"
    if repo_url is None:
        path.unlink(missing_ok=True)  # a copy left by an earlier build would only mislead
        return BOOK / "_config.yml"
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    header = (
        "# Written by scripts/build_book.py from book/_config.yml for "
        f"{REPOSITORY_ENV}={repo_url}.\n# Do not edit: it is rewritten by every build.\n"
    )
    path.write_text(
        header
        + yaml.safe_dump(derive_config(config, repo_url), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    print(f"Launch buttons on: {repo_url} (Binder, Colab); configuration {path}")
    return path


def book_commit(environ: dict[str, str] | None = None) -> str:
    """The commit the book is built from: ``GITHUB_SHA`` in the workflow, else git's HEAD."""
    commit = (os.environ if environ is None else environ).get("GITHUB_SHA", "").strip()
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise BuildError(
                f"{REPOSITORY_ENV} is set, so the notebooks' Colab cell must name the commit the "
                f"book is built from, but git could not say which ({exc}). Build from a git "
                f"clone, or set GITHUB_SHA to the commit."
            ) from exc
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise BuildError(f"the book's commit {commit!r} is not a 40-digit git commit hash")
    return commit


def write_launch_notebooks(out: Path, repo_url: str, commit: str) -> list[Path]:
    """``out/launch/notebooks/NAME.ipynb``: each notebook with its Colab cell filled in, for the
    branch that the launch buttons open (the Pages workflow pushes them there)."""
    folder = out / "launch" / "notebooks"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    written = []
    for src in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(src, as_version=nbformat.NO_CONVERT)
        try:
            fill_colab_cell(notebook, repo_url, commit)
        except ValueError as exc:
            raise BuildError(f"{src.name}: {exc}") from exc
        # Colab shows the notebook alone: its links to book pages go to the pages on GitHub.
        relink_book_pages(notebook, f"]({repo_url}/blob/{commit}/book/")
        nbformat.write(notebook, folder / src.name)
        written.append(folder / src.name)
    print(f"Colab cells filled in ({repo_url} at {commit[:12]}): {folder}")
    return written


# ------------------------------------------------------------------------------------------- build
# Jupyter Book's own overrides for a book (what `jupyter-book build` passes).
BOOK_OVERRIDES = {"external_toc_path": str(BOOK / "_toc.yml"), "latex_individualpages": False}
LANGUAGES = tuple(EDITIONS)  # en (the site's root), ko (under ko/)


def run_sphinx(out: Path, dest: Path, config: Path, builder: str, language: str = "en") -> None:
    """Run Jupyter Book's Sphinx into ``dest`` with warnings as errors (-W --keep-going), every
    page re-read; its cache goes to ``out``."""
    from jupyter_book.sphinx import build_sphinx  # the same call `jupyter-book build` makes

    overrides = dict(BOOK_OVERRIDES)
    if language != "en":
        overrides["language"] = language  # the catalogues of book/locales/<language>/ apply
    result = build_sphinx(
        BOOK,
        dest,
        path_config=config,  # what `jupyter-book build --config FILE` passes
        noconfig=True,
        confoverrides=overrides,
        # one cache per edition and builder: a Korean doctree must not stand in for an English one
        doctreedir=out / f".doctrees-{builder}-{language}",
        builder=builder,
        warningiserror=True,  # -W
        keep_going=True,  # --keep-going: report every warning, then fail
        # re-read every page, so warnings of unchanged pages are not hidden by the cache
        freshenv=True,
    )
    if isinstance(result, Exception) or result:
        raise BuildError(f"Sphinx failed ({result!r}); the warnings above say where.")


def edition_html(out: Path, language: str) -> Path:
    """Where an edition's HTML goes: OUT/html for English, OUT/html/ko for Korean, the same
    layout as on the published site, so that the language switch links work offline too."""
    folder = edition_of(language).folder
    return out / "html" / folder if folder else out / "html"


def build_html(out: Path, config: Path = BOOK / "_config.yml", language: str = "en") -> Path:
    """Build one edition of the book; return the path of its index.html."""
    html = edition_html(out, language)
    run_sphinx(out, html, config, "html", language)
    return html / "index.html"


def build_message_templates(out: Path, config: Path = BOOK / "_config.yml") -> Path:
    """The English text of every page and notebook as gettext templates, OUT/gettext/*.pot."""
    templates = out / "gettext"
    run_sphinx(out, templates, config, "gettext")
    return templates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=BOOK / "_build",
        help="build folder; the HTML goes to OUT/html (default: book/_build)",
    )
    parser.add_argument(
        "--language",
        choices=(*LANGUAGES, "all"),
        default="all",
        help="which edition to build: en, ko (into OUT/html/ko) or all (default)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = args.out.resolve()
    try:
        config = book_config(out)  # first: a bad URL fails before any download
        repo_url = repository_url()
        if repo_url is not None:
            write_launch_notebooks(out, repo_url, book_commit())
        ensure_packages()
        publish_demos()
        check_toc()
        languages = LANGUAGES if args.language == "all" else (args.language,)
        with book_sources():
            indexes = [build_html(out, config, language) for language in languages]
    except (BuildError, AssetError) as exc:
        print(f"build_book: ERROR: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(f"Book built in {seconds:.0f} s. Open {' or '.join(map(str, indexes))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
