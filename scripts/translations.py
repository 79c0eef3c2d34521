"""The Korean edition's message catalogues: ``python scripts/translations.py [update|status]``.

``update`` (``make translations``) extracts the English text of every book page and every
notebook's Markdown (Sphinx's gettext builder, through Jupyter Book, into
``book/_build/gettext/*.pot``) and merges it into ``book/locales/ko/LC_MESSAGES/**.po`` with
sphinx-intl: a new paragraph arrives untranslated, a changed one keeps its old translation marked
*fuzzy* (Sphinx does not use fuzzy entries), a removed one is dropped. Then translate the empty
and fuzzy entries (any PO editor, or a text editor: fill ``msgstr``, delete the ``#, fuzzy`` line)
and build with ``make book LANG=ko``.

``status`` says, catalogue by catalogue, how much of the current English text the Korean
catalogues translate, and lists what is missing or fuzzy. The English pages and notebooks stay the
only source: a catalogue holds translations, never text of its own.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.pofile import read_po
from markdown_it import MarkdownIt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by a test
import build_book  # noqa: E402

LANGUAGE = "ko"
LOCALES = build_book.BOOK / "locales"
CATALOGUES = LOCALES / LANGUAGE / "LC_MESSAGES"
BUILD = build_book.BOOK / "_build"


@dataclass
class Coverage:
    """How much of one page's English text its catalogue translates."""

    page: str  # e.g. notebooks/03_variational_autoencoder
    total: int = 0
    missing: list[str] = field(default_factory=list)  # no translation, or none in use
    fuzzy: list[str] = field(default_factory=list)  # a translation of an older English text

    @property
    def translated(self) -> int:
        return self.total - len(self.missing) - len(self.fuzzy)


def message_templates(out: Path = BUILD) -> Path:
    """Extract the current English messages into ``out/gettext`` and return that folder."""
    build_book.check_toc()
    with build_book.book_sources():
        return build_book.build_message_templates(out)


def read_catalogue(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def coverage(templates: Path, catalogues: Path = CATALOGUES) -> list[Coverage]:
    """Each template's messages against the catalogue of the same name: translated (a non-empty,
    non-fuzzy ``msgstr``), fuzzy, or missing (no entry, an empty one, or no catalogue at all)."""
    report = []
    for template in sorted(templates.rglob("*.pot")):
        page = template.relative_to(templates).with_suffix("").as_posix()
        po = catalogues / f"{page}.po"
        entries = {m.id: m for m in read_catalogue(po) if m.id} if po.is_file() else {}
        result = Coverage(page)
        for message in read_catalogue(template):
            if not message.id:
                continue  # the header
            result.total += 1
            entry = entries.get(message.id)
            if entry is None or not entry.string:
                result.missing.append(message.id)
            elif entry.fuzzy:
                result.fuzzy.append(message.id)
        report.append(result)
    return report


# What a translation must carry over unchanged: math, code and role targets, link targets.
MATH = re.compile(r"\$\$.+?\$\$|(?<!\\)\$[^$]+?(?<!\\)\$|\\\(.+?\\\)", re.S)
CODE = re.compile(r"(`+)(.+?)\1", re.S)  # inline code and the target of a {role}`target`
ROLE = re.compile(r"\{[a-z:-]+\}(?=`)")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>")

# Key terms: where the English text uses one, the Korean must use the glossary's Korean for it
# (book/glossary.md quotes it from the source documents; a test checks that each form below is
# there). Alternatives are the spellings the glossary gives; spaces are ignored when comparing.
KEY_TERMS = {
    "autoencoder": ("오토인코더",),
    "variational autoencoder": ("변형 오토인코더",),
    "encoder": ("인코더",),
    "decoder": ("디코더",),
    "latent space": ("잠재 공간",),
    "latent variable": ("잠재 변수",),
    "generator": ("생성자",),
    "discriminator": ("판별자",),
    "generative adversarial network": ("적대적 생성 신경망",),
    "generative model": ("생성 모델",),
    "reconstruction": ("재구성",),
    "loss function": ("손실 함수",),
    "mean squared error": ("평균 제곱 오차",),
    "binary cross-entropy": ("이진 크로스 엔트로피",),
    "Kullback-Leibler divergence": ("쿨백-라이블러 발산",),
    "reparameterization trick": ("재 매개변수 기법",),
    "evidence lower bound": ("증거 하한",),
    "prior distribution": ("사전 확률분포",),
    "normal distribution": ("정규분포",),
    "restricted Boltzmann machine": ("제한적 볼츠만 머신",),
    "Boltzmann machine": ("볼츠만 머신",),
    "deep belief network": ("심층 신뢰망",),
    "contrastive divergence": ("대조분기",),
    "Gibbs sampling": ("깁스 샘플링", "깃스 표본추출"),
    "partition function": ("분할 함수",),
    "energy function": ("에너지 함수",),
    "hidden layer": ("은닉층",),
    "visible layer": ("가시층",),
    "mode collapse": ("모드 붕괴",),
    "gradient penalty": ("그래디언트 페널티",),
    "weight clipping": ("가중치 클리핑",),
    "critic": ("크리틱",),
    "earth mover's distance": ("바서슈타인 거리",),
    "Wasserstein distance": ("바서슈타인 거리",),
    "Jensen-Shannon divergence": ("옌센-섀넌 발산",),
    "conditional GAN": ("조건부 GAN",),
    "cycle consistency": ("순환 일관성",),
    "image-to-image translation": ("이미지 간 변환",),
    "style transfer": ("스타일 전이",),
    "content loss": ("콘텐츠 손실",),
    "style loss": ("스타일 손실",),
    "Gram matrix": ("그람 행렬",),
    "learning rate": ("학습률",),
    "epoch": ("에포크",),
    "minibatch": ("미니배치",),
    "overfitting": ("과대 적합",),
    "interpolation": ("보간",),
    "dimensionality reduction": ("차원 축소",),
    "principal component analysis": ("주성분 분석",),
    "unsupervised learning": ("비지도 학습",),
    "supervised learning": ("지도 학습",),
    "backpropagation": ("역전파",),
    "batch normalisation": ("배치 정규화",),
    "skip connection": ("스킵 연결",),
}


def _term_pattern(term: str) -> re.Pattern:
    words = r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", term))
    return re.compile(rf"(?<![\w-]){words}(?:s|es)?(?![\w-])", re.I)


TERM_PATTERNS = {term: _term_pattern(term) for term in KEY_TERMS}


# Uses of the words that are not the key terms: a random number generator is not a GAN's 생성자.
NOT_KEY_TERMS = re.compile(
    r"random[- ]number generators?|(?:seeded|random|legacy|same|NumPy's) generators?"
    r"|generators? seeded|generator seeds?",
    re.I,
)
QUOTATION = re.compile(r'"[^"]*"|“[^”]*”')


def prose(text: str) -> str:
    """``text`` without what is not prose to translate: math, code, link targets, quotations."""
    for pattern in (CODE, MATH, LINK_TARGET, QUOTATION, NOT_KEY_TERMS):
        text = pattern.sub(" ", text)
    return text


INLINE_MARKDOWN = MarkdownIt("commonmark")
MARKUP = re.compile(r"<(strong|em|a)\b")


def markup(text: str) -> Counter:
    """The bold, italic and link elements that ``text`` renders to. Korean particles written
    straight after emphasis can break it (``**VAE(...)**는`` shows its asterisks: CommonMark
    does not close emphasis after punctuation when a letter follows), so translations are
    compared rendered, math and code left out."""
    html = INLINE_MARKDOWN.renderInline(MATH.sub("M", CODE.sub("C", text)))
    return Counter(MARKUP.findall(html))


def spans(pattern: re.Pattern, text: str) -> Counter:
    return Counter(match.group(0) for match in pattern.finditer(text))


KEPT = {  # what a translation must keep, each found in a message
    "math": lambda text: spans(MATH, CODE.sub(" ", text)),  # `$COURSE_DATA_DIR` is code, no math
    "code": lambda text: spans(CODE, text),
    "role": lambda text: spans(ROLE, text),
}


def problems(english: str, korean: str) -> list[str]:
    """What is wrong with ``korean`` as the translation of ``english`` (empty: nothing)."""
    found = []
    for name, find in KEPT.items():
        a, b = find(english), find(korean)
        if a != b:
            lost, added = sorted((a - b).elements()), sorted((b - a).elements())
            found.append(f"{name} changed: lost {lost}, added {added}")
    a = Counter(filter(None, sum(LINK_TARGET.findall(english), ())))
    b = Counter(filter(None, sum(LINK_TARGET.findall(korean), ())))
    if a != b:
        found.append(f"link targets changed: lost {sorted(a - b)}, added {sorted(b - a)}")
    if markup(english) != markup(korean):
        found.append(
            f"bold/italic/links render differently: {dict(markup(english))} in English, "
            f"{dict(markup(korean))} here (emphasis ending in punctuation right before a Korean "
            "letter is not closed: move the punctuation out or rephrase)"
        )
    if korean != english:  # a message kept as it is (a name, a headword) uses no Korean terms
        squashed = re.sub(r"\s+", "", korean)
        text = prose(english)
        for term, forms in KEY_TERMS.items():
            if TERM_PATTERNS[term].search(text) and not any(
                re.sub(r"\s+", "", form) in squashed for form in forms
            ):
                found.append(f"key term {term!r} not translated as {' or '.join(forms)}")
    return found


def check(paths: list[Path]) -> dict[str, list[str]]:
    """Every translated entry of the catalogues ``paths`` with what is wrong with it."""
    report = {}
    for path in paths:
        for message in read_catalogue(path):
            if message.id and (not message.string or message.fuzzy):
                report[f"{path.name}: {message.id[:80]}"] = ["not translated, or fuzzy"]
            elif message.id:
                wrong = problems(message.id, message.string)
                if wrong:
                    report[f"{path.name}: {message.id[:80]}"] = wrong
    return report


def update(templates: Path) -> None:
    """Merge the templates into the Korean catalogues (sphinx-intl, no line wrapping)."""
    from sphinx_intl.commands import main as sphinx_intl

    args = ["update", "-p", str(templates), "-d", str(LOCALES), "-l", LANGUAGE, "-w", "-1"]
    args += ["--no-obsolete", "-j", "1"]
    try:
        sphinx_intl(args, standalone_mode=False)
    except SystemExit as exc:  # click's exit after the command
        if exc.code:
            raise


def print_status(report: list[Coverage], limit: int = 5) -> None:
    total = sum(c.total for c in report)
    translated = sum(c.translated for c in report)
    for c in report:
        if c.missing or c.fuzzy:
            print(
                f"{c.page}: {c.translated}/{c.total} translated, {len(c.missing)} missing, "
                f"{len(c.fuzzy)} fuzzy"
            )
            for kind, ids in (("missing", c.missing), ("fuzzy", c.fuzzy)):
                for text in ids[:limit]:
                    print(f"  {kind}: {text[:100]}")
    share = 100 * translated / total if total else 100.0
    print(
        f"Korean: {translated} of {total} messages translated ({share:.1f} %) "
        f"in {len(report)} catalogues ({CATALOGUES.relative_to(build_book.ROOT)})."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=("update", "status", "check"), nargs="?", default="update"
    )
    parser.add_argument("catalogues", nargs="*", type=Path, help="for check: the .po files")
    args = parser.parse_args(argv)
    if args.command == "check":
        paths = args.catalogues or sorted(CATALOGUES.rglob("*.po"))
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            print(
                f"translations: ERROR: no such catalogue: {', '.join(missing)} (the "
                f"catalogues are {CATALOGUES.relative_to(build_book.ROOT)}/**.po)",
                file=sys.stderr,
            )
            return 1
        report = check(paths)
        for where, wrong in report.items():
            print(f"{where}\n  " + "\n  ".join(wrong))
        print(f"{len(report)} entries with problems in {len(paths)} catalogues.")
        return 1 if report else 0
    try:
        templates = message_templates()
    except build_book.BuildError as exc:
        print(f"translations: ERROR: {exc}", file=sys.stderr)
        return 1
    if args.command == "update":
        update(templates)
    print_status(coverage(templates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
