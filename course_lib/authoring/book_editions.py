"""The book's two editions, English and Korean, built by Sphinx from the same sources.

A Sphinx extension (``book/_config.yml`` loads it). The Korean edition is the English book with
the message catalogues of ``book/locales/ko/`` applied (Sphinx's internationalisation, managed with
sphinx-intl: ``make translations``), published under ``ko/`` beside the English root. This module:

* keeps the notebooks' outputs out of the catalogues: code, printed results and the Markdown
  that a run writes are shared by both editions, while a figure's caption and its alt text (cell
  metadata written by hand) are translated;
* puts a link to the same page in the other edition in every page's header, and translates the
  captions of the table of contents, which Sphinx's own pass misses;
* gives the Korean edition a search index that finds words behind Korean particles
  (:mod:`course_lib.authoring.korean_search`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.locale import init as init_locale
from sphinx.transforms import SphinxTransform
from sphinx.util.i18n import docname_to_domain

from course_lib.authoring.korean_search import SearchKorean


@dataclass(frozen=True)
class Edition:
    language: str  # Sphinx's `language`, also the pages' lang attribute
    folder: str  # where the edition lives below the site's root ("" for the root itself)
    label: str  # the switch link's text, in the edition's own language
    tooltip: str  # what the link does, in that language too


ENGLISH = Edition("en", "", "English", "Read this page in English")
KOREAN = Edition("ko", "ko", "한국어", "이 페이지를 한국어로 읽기")
KOREAN_TITLE = "심층 생성 모델: 검증된 강좌"  # the English title is book/_config.yml's
EDITIONS = {edition.language: edition for edition in (ENGLISH, KOREAN)}
TEMPLATES = Path(__file__).with_name("book_templates")
SWITCH_TEMPLATE = "language-switch.html"
SWITCH_STYLE = "language-switch.css"  # in TEMPLATES/static/
# sphinx-book-theme's default for the right end of the page header, and the switch after it.
HEADER_END = ["article-header-buttons.html", SWITCH_TEMPLATE]
# The catalogues must see the figures: Sphinx's gettext builder would otherwise take a notebook
# output's text/plain stand-in ("<Figure size ...>") and lose the image, and with it the alt text.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
GETTEXT_SEES_IMAGES = [("gettext", mime, 1) for mime in IMAGE_TYPES]


def edition_of(language: str | None) -> Edition:
    """The edition built with Sphinx's ``language`` (None and unknown languages: English)."""
    return EDITIONS.get(language or "en", ENGLISH)


def other_edition_url(pagename: str, this: Edition, other: Edition) -> str:
    """The relative URL, from page ``pagename`` of edition ``this``, of the same page in
    ``other``: up to this edition's root, up to the site's root, down into the other edition."""
    to_edition_root = "../" * pagename.count("/")
    to_site_root = "../" * (this.folder.count("/") + 1) if this.folder else ""
    into_other = f"{other.folder}/" if other.folder else ""
    return f"{to_edition_root}{to_site_root}{into_other}{pagename}.html"


class SharedOutputs(SphinxTransform):
    """Mark the text of notebook outputs as not translatable (before Sphinx's Locale transform,
    priority 20, and before the gettext builder reads the doctree); captions and images stay."""

    default_priority = 10

    def apply(self, **kwargs) -> None:
        for output in self.document.findall(nodes.container):
            if output.get("nb_element") != "cell_code_output":
                continue
            for node in output.findall(nodes.TextElement):
                if not any(isinstance(up, nodes.caption) for up in _self_and_parents(node)):
                    node["translatable"] = False


class TranslatedTocCaptions(SphinxTransform):
    """Translate the captions of the table of contents ("Notebooks", "Reference").

    sphinx-external-toc inserts the toctrees from _toc.yml into the root page at priority 100,
    after Sphinx's Locale transform (20) translated that page, so their captions would stay
    English; the gettext builder sees them, so the root page's catalogue holds them."""

    default_priority = 101

    def apply(self, **kwargs) -> None:
        if edition_of(self.config.language) is ENGLISH:
            return
        folders = [str(Path(self.env.srcdir) / folder) for folder in self.config.locale_dirs]
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        catalogue, found = init_locale(folders, self.config.language, domain)
        if not found:
            return
        for toctree in self.document.findall(addnodes.toctree):
            if toctree.get("caption"):
                toctree["caption"] = catalogue.gettext(toctree["caption"])


def _self_and_parents(node: nodes.Node):
    while node is not None:
        yield node
        node = node.parent


def configure(app, config) -> None:
    """The header's switch, the figures for the catalogues, the Korean title and search, and a
    tag per edition (``edition_en``, ``edition_ko``) for text that only one edition shows
    (MyST's ``{only}`` directive; the catalogues hold the text of every edition's blocks)."""
    app.tags.add(f"edition_{edition_of(config.language).language}")
    config.templates_path.append(str(TEMPLATES))
    config.html_static_path.append(str(TEMPLATES / "static"))
    config.html_theme_options["article_header_end"] = HEADER_END
    config.nb_mime_priority_overrides = [*config.nb_mime_priority_overrides, *GETTEXT_SEES_IMAGES]
    if edition_of(config.language) is KOREAN:
        config.html_title = KOREAN_TITLE
        config.html_search_language = KOREAN.language
        config.html_theme_options["search_bar_text"] = "이 책에서 검색…"


def add_switch(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """The link to ``pagename`` in the other edition, for the header template."""
    this = edition_of(app.config.language)
    other = KOREAN if this is ENGLISH else ENGLISH
    context["other_edition"] = {
        "url": other_edition_url(pagename, this, other),
        "language": other.language,
        "label": other.label,
        "title": other.tooltip,
    }


def setup(app):
    app.add_search_language(SearchKorean)
    app.add_transform(SharedOutputs)
    app.add_transform(TranslatedTocCaptions)
    app.add_css_file(SWITCH_STYLE)
    app.connect("config-inited", configure)
    app.connect("html-page-context", add_switch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
