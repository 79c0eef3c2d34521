"""Search for the Korean edition of the book: Sphinx's index, with Korean words found behind
their particles.

Korean writes particles and endings onto the word: 판별자 (discriminator) appears as 판별자가,
판별자를, 판별자의. Sphinx's search has no Korean support; it would index each form as its own
word, and a search for 판별자 would miss most pages. :class:`SearchKorean` strips the common
particles and endings from a word that ends in Hangul, repeatedly, so that a word and any of its
suffixed forms reduce to the same stem, and stems the rest (English words, code names: the Korean
edition keeps many) with Sphinx's Porter stemmer. The same rule runs in the reader's browser
(the JavaScript built from :data:`SUFFIXES` below), so a query is reduced exactly as the pages
were.
"""

from __future__ import annotations

import json
import re

from sphinx.search.en import SearchEnglish, js_porter_stemmer

# Particles (조사) and the endings of 하다/되다 verbs and the copula, longest first so that
# 에서 is stripped whole rather than as 서. A stem keeps at least one syllable.
SUFFIXES = (
    "입니다", "합니다", "됩니다", "에서는", "에서도", "으로는", "으로서", "으로써", "에게서",
    "에서", "에게", "으로", "로서", "로써", "부터", "까지", "처럼", "보다", "마다", "이나",
    "이고", "이며", "이다", "한다", "하는", "하고", "하여", "해서", "하면", "하며", "하게",
    "했다", "된다", "되는", "되고", "되어",
    "은", "는", "이", "가", "을", "를", "의", "에", "로", "와", "과", "도", "만",
)  # fmt: skip
HANGUL_SYLLABLE = re.compile(r"[\uac00-\ud7a3]")


def strip_suffixes(word: str) -> str:
    """``word`` without its trailing particles and endings (until none is left to strip)."""
    stripped = True
    while stripped:
        stripped = False
        for suffix in SUFFIXES:
            if len(word) > len(suffix) and word.endswith(suffix):
                word = word[: -len(suffix)]
                stripped = True
                break
    return word


class SearchKorean(SearchEnglish):
    """Sphinx's search language ``ko``: English's stop words and Porter stemmer for words that
    do not end in Hangul, particle stripping for those that do."""

    lang = "ko"
    language_name = "Korean"
    js_stemmer_code = (
        js_porter_stemmer.replace("var Stemmer = function", "var PorterStemmer = function")
        + """
// Korean: strip trailing particles and endings (course_lib/authoring/korean_search.py).
var Stemmer = function() {
  const porter = new PorterStemmer();
  const suffixes = %s;
  const hangulEnd = /[\\uac00-\\ud7a3]$/;
  const stripSuffixes = (word) => {
    let stripped = true;
    while (stripped) {
      stripped = false;
      for (const suffix of suffixes) {
        if (word.length > suffix.length && word.endsWith(suffix)) {
          word = word.slice(0, -suffix.length);
          stripped = true;
          break;
        }
      }
    }
    return word;
  };
  this.stemWord = (word) => {
    if (hangulEnd.test(word)) {
      word = stripSuffixes(word);
      if (hangulEnd.test(word)) return word;
    }
    return porter.stemWord(word);
  };
};
"""
        % json.dumps(list(SUFFIXES), ensure_ascii=False)
    )

    def stem(self, word: str) -> str:
        word = word.lower()
        if HANGUL_SYLLABLE.fullmatch(word[-1:]):
            word = strip_suffixes(word)
            if HANGUL_SYLLABLE.fullmatch(word[-1:]):
                return word
        return super().stem(word)
