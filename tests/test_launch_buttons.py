"""Launch buttons (Binder, Colab) come from one setting, COURSE_REPOSITORY_URL, and only from it.

The book is not built here (tests/test_book.py builds it once). Instead the configuration that
scripts/build_book.py derives is passed through Jupyter Book's own translation to Sphinx settings
(``get_final_config``, what a build does), and the links are computed by sphinx-book-theme's own
page hooks, called with a stand-in for the Sphinx app. These hooks are internal to the pinned
theme version: if an upgrade changes them, these tests fail and the links must be checked again.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from jupyter_book.config import get_final_config
from sphinx_book_theme.header_buttons import update_context_with_repository_info
from sphinx_book_theme.header_buttons.launch import add_launch_buttons
from sphinx_book_theme.header_buttons.source import add_source_buttons

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
REPO = "https://github.com/example/dgm-course"


def _load_build_module():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = _load_build_module()
REPOSITORY_ENV_UNSET = f"-u {build_book.REPOSITORY_ENV}"


class _Config(dict):
    """Sphinx's config answers both app.config.key and app.config["key"]; the theme uses both."""

    __getattr__ = dict.__getitem__


def header_buttons(config_path: Path, pagename: str, notebook: bool) -> list[dict]:
    """The header buttons sphinx-book-theme puts on ``pagename`` for this configuration."""
    sphinx_config, _ = get_final_config(
        user_yaml=config_path,
        cli_config={"external_toc_path": str(BOOK / "_toc.yml"), "latex_individualpages": False},
        sourcedir=BOOK,
        raise_on_invalid=True,
    )
    suffix = ".ipynb" if notebook else ".md"
    app = SimpleNamespace(
        builder=None,  # the theme then reads html_theme_options from the config
        config=_Config(html_theme_options=sphinx_config["html_theme_options"], html_context={}),
        env=SimpleNamespace(
            doc2path=lambda name: str(BOOK / f"{name}{suffix}"),
            metadata={pagename: {"kernelspec": {"name": "python3"}} if notebook else {}},
        ),
    )
    update_context_with_repository_info(app)  # a builder-inited hook in a real build
    context = {
        **app.config.html_context,
        "pagename": pagename,
        "header_buttons": [],
        "sourcename": f"{pagename}{suffix}",
        "page_source_suffix": suffix,
    }
    add_launch_buttons(app, pagename, "page.html", context, doctree=None)
    add_source_buttons(app, pagename, "page.html", context, doctree=object())
    return context["header_buttons"]


def launch_links(buttons: list[dict]) -> dict[str, str]:
    groups = [b for b in buttons if b.get("label") == "launch-buttons"]
    return {b["text"]: b["url"] for group in groups for b in group["buttons"]}


@pytest.fixture
def derived(tmp_path) -> Path:
    return build_book.book_config(tmp_path, {build_book.REPOSITORY_ENV: REPO})


# ------------------------------------------------------------------------------ without the setting
@pytest.mark.parametrize(
    "environ", [{}, {"COURSE_REPOSITORY_URL": ""}, {"COURSE_REPOSITORY_URL": "  "}]
)
def test_without_the_setting_the_book_config_is_used_unchanged(tmp_path, environ):
    stale = tmp_path / "_config.derived.yml"
    stale.write_text("left by an earlier build\n")
    assert build_book.book_config(tmp_path, environ) == BOOK / "_config.yml"
    assert not stale.exists()
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    assert build_book.derive_config(config, None) == config


def test_the_book_config_itself_has_no_launch_or_repository_links():
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"] == ""
    assert not any(
        config["launch_buttons"][key]
        for key in ("binderhub_url", "jupyterhub_url", "thebe", "colab_url", "deepnote_url")
    )
    assert not any(
        config["html"][key]
        for key in ("use_repository_button", "use_edit_page_button", "use_issues_button")
    )
    for page, notebook in [("notebooks/01_autoencoder", True), ("intro", False)]:
        buttons = header_buttons(BOOK / "_config.yml", page, notebook)
        assert buttons == [], (
            f"{page} has header buttons without {build_book.REPOSITORY_ENV}: {buttons}"
        )


# --------------------------------------------------------------------------------- with the setting
def test_the_setting_turns_on_binder_colab_and_the_repository_button(derived: Path):
    assert derived.parent.name != "book" and derived.name == "_config.derived.yml"
    config = yaml.safe_load(derived.read_text(encoding="utf-8"))
    assert config["repository"]["url"] == REPO
    assert config["repository"]["branch"] == "book"
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["html"]["use_repository_button"] is True
    assert config["html"]["use_edit_page_button"] is False
    assert config["html"]["use_issues_button"] is False
    # Everything else is book/_config.yml's, so the two builds differ only in these buttons.
    original = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    for section in ("repository", "launch_buttons", "html"):
        config[section] = original[section]
    assert config == original


def test_notebook_pages_launch_the_notebook_at_the_repository_root(derived: Path):
    # The page is built from the git-ignored copy book/notebooks/01_autoencoder.ipynb, but the
    # links must name notebooks/01_autoencoder.ipynb, the file that is in the repository.
    assert (ROOT / "notebooks" / "01_autoencoder.ipynb").is_file()
    buttons = header_buttons(derived, "notebooks/01_autoencoder", notebook=True)
    assert launch_links(buttons) == {
        # the launch branch: the book's commit with the Colab cells filled in
        "Binder": "https://mybinder.org/v2/gh/example/dgm-course/book"
        "?urlpath=lab/tree/notebooks/01_autoencoder.ipynb",
        "Colab": "https://colab.research.google.com/github/example/dgm-course/blob/book/"
        "notebooks/01_autoencoder.ipynb",
    }
    repository = [b for b in buttons if b.get("label") == "source-repository-button"]
    assert [b["url"] for b in repository] == [REPO]
    labels = {b.get("label") for b in buttons}
    assert not labels & {
        "source-edit-button",
        "source-issues-button",
        "source-file-button",
        "source-buttons",
    }


def test_other_pages_get_only_the_repository_button(derived: Path):
    for page in ("intro", "how_to_run"):
        buttons = header_buttons(derived, page, notebook=False)
        assert [(b.get("label"), b["url"]) for b in buttons] == [("source-repository-button", REPO)]


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://github.com/example/dgm-course", "https://github.com/example/dgm-course"),
        (
            " https://github.com/Example-Org/dgm.course_2/ ",
            "https://github.com/Example-Org/dgm.course_2",
        ),
    ],
)
def test_valid_urls(url, expected):
    assert build_book.repository_url({build_book.REPOSITORY_ENV: url}) == expected


@pytest.mark.parametrize(
    "url",
    [
        "github.com/example/dgm-course",  # no scheme
        "http://github.com/example/dgm-course",  # not https
        "https://gitlab.com/example/dgm-course",  # Colab opens GitHub notebooks only
        "https://github.com/example",  # no repository
        "https://github.com/example/dgm-course/tree/main",  # a page in it, not the repository
        "https://github.com/example/dgm-course.git",  # a clone URL
        "https://github.com/example/..",
        "https://github.com/-example/dgm-course",
        "https://github.com/example/dgm course",
    ],
)
def test_bad_urls_stop_the_build_with_the_variable_named(tmp_path, url):
    with pytest.raises(
        build_book.BuildError, match=r"COURSE_REPOSITORY_URL=.*https://github\.com/OWNER/REPO"
    ):
        build_book.book_config(tmp_path, {build_book.REPOSITORY_ENV: url})
    assert not (tmp_path / "_config.derived.yml").exists()


def test_a_bad_url_fails_before_any_build_step(tmp_path, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("a build step ran despite the bad URL")

    for step in ("ensure_packages", "publish_demos", "check_toc", "sync_notebooks", "build_html"):
        monkeypatch.setattr(build_book, step, must_not_run)
    monkeypatch.setenv(build_book.REPOSITORY_ENV, "https://example.org/dgm-course")
    assert build_book.main(["--out", str(tmp_path)]) == 1


# ------------------------------------------------------------------------------ the Pages workflow
def test_the_pages_workflow_passes_the_repository_url_to_make_book():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = [
        s for s in workflow["jobs"]["build"]["steps"] if s.get("run", "").strip() == "make book"
    ]
    assert len(steps) == 1
    assert steps[0].get("env", {}).get(build_book.REPOSITORY_ENV) == (
        "${{ github.server_url }}/${{ github.repository }}"
    )
    # make book runs the build script with the workflow's environment (it may drop LANG alone)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^book: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe and "scripts/build_book.py" in recipe.group(1)
    assert "env -i" not in recipe.group(1) and REPOSITORY_ENV_UNSET not in recipe.group(1)


def test_binder_installs_the_course_package_from_the_root():
    post_build = ROOT / "postBuild"
    assert post_build.is_file() and post_build.stat().st_mode & 0o111, (
        "postBuild must be executable"
    )
    commands = [
        line.strip()
        for line in post_build.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "pip install --no-deps -e ." in " ".join(commands)
    assert (ROOT / "environment.yml").is_file()
    # repo2docker reads only binder/ (or .binder/) if present, which would drop environment.yml.
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
