"""Chinese word segmentation for hot topics: ``jieba`` plus the 12345 user dictionary.

The dictionary ships in ``analytics/dictionary/``: ``places.txt`` (the province's cities and
districts, with the short forms callers say), ``departments.txt`` (承办单位 and their short
forms), ``complaints.txt`` (complaint terms kept whole) and ``stopwords.txt`` (words never
counted). A short form counts as its full name: 萧山 and 萧山区 are one term, 人社局 is
人力资源和社会保障局.

jieba is loaded once per :class:`Segmenter`, on the first text it cuts (building its prefix
dictionary takes 1-3 s; its cache makes later starts faster). The cache goes to the
``cache_dir`` given (e.g. under the data directory), else to a private temporary directory
removed at exit - never to the shared ``/tmp/jieba.cache``. jieba's own logger, which prints
to stderr, is set to warnings only.

Vosk's Chinese models put spaces between words; spaces are removed before cutting, so the
dictionary decides the words, not the recogniser.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["Dictionary", "Segmenter", "TermKind", "load_dictionary"]

# Kinds of dictionary words, shown beside a term (domain words stay Chinese in the UI).
TermKind = str
PLACE: TermKind = "地名"
DEPARTMENT: TermKind = "部门"
COMPLAINT: TermKind = "诉求"

_SPACES = re.compile(r"\s+")
# A token worth counting has at least one Chinese character (numbers, Latin noise and
# punctuation are dropped) and two or more characters.
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Numbers said in words (Vosk writes a spoken phone number as 幺三八零零...): never terms, so
# that no caller's number reaches the index or the page.
_NUMERALS = re.compile(r"^[零〇幺一二两三四五六七八九十百千万亿点号]+$")


@dataclass(frozen=True)
class Dictionary:
    """The user dictionary: canonical words with their kind, short forms -> canonical, the
    city of each place, and the stop words."""

    kinds: dict[str, TermKind]  # canonical word -> kind
    aliases: dict[str, str]  # every form (short and full) -> canonical word
    place_city: dict[str, str]  # place -> its city (the province for a city)
    stopwords: frozenset[str]


def _lines(name: str) -> list[tuple[int, list[str]]]:
    text = resources.files("hotline12345.analytics").joinpath("dictionary", name).read_text(
        encoding="utf-8")
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            out.append((number, fields))
    return out


def load_dictionary(extra_words: Iterable[str] = ()) -> Dictionary:
    """The shipped dictionary, plus ``extra_words`` (e.g. the site file's classification
    departments and keywords) as complaint/department words kept whole."""
    kinds: dict[str, TermKind] = {}
    aliases: dict[str, str] = {}
    place_city: dict[str, str] = {}
    for number, fields in _lines("places.txt"):
        if len(fields) < 2:
            raise ValueError(f"analytics/dictionary/places.txt line {number}: a place needs "
                             f"its full name and its city ('-' for the province), then any "
                             f"short forms, separated by spaces; got {' '.join(fields)!r}")
        name, city, *short = fields
        kinds[name] = PLACE
        place_city[name] = city if city != "-" else name
        for form in (name, *short):
            aliases[form] = name
    for _, fields in _lines("departments.txt"):
        name, *short = fields
        kinds.setdefault(name, DEPARTMENT)
        for form in (name, *short):
            aliases.setdefault(form, name)
    for _, fields in _lines("complaints.txt"):
        kinds.setdefault(fields[0], COMPLAINT)
        aliases.setdefault(fields[0], fields[0])
    for word in extra_words:
        word = _SPACES.sub("", word)
        if len(word) >= 2 and word not in aliases:
            kinds[word] = DEPARTMENT if word.endswith(("局", "厅", "委", "办", "中心")) \
                else COMPLAINT
            aliases[word] = word
    stop = frozenset(fields[0] for _, fields in _lines("stopwords.txt"))
    return Dictionary(kinds, aliases, place_city, stop)


class Segmenter:
    """Cuts texts into countable terms with jieba and the user dictionary.

    ``use_dictionary=False`` gives plain jieba (the tests show what the dictionary changes).
    ``hmm``: jieba's HMM joins characters missing from every dictionary into words (jieba's
    default; it finds new names, and measured no slower here).
    Thread-safe: jieba is initialised under a lock, cutting only reads it.
    """

    def __init__(self, *, cache_dir: Path | None = None, extra_words: Iterable[str] = (),
                 use_dictionary: bool = True, hmm: bool = True) -> None:
        self.dictionary = load_dictionary(extra_words)
        self.use_dictionary = use_dictionary
        self.hmm = hmm
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._tokenizer: Any = None

    def _load(self) -> Any:
        with self._lock:
            if self._tokenizer is not None:
                return self._tokenizer
            import jieba

            logging.getLogger("jieba").setLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            if self._cache_dir is not None:
                self._cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                tokenizer.tmp_dir = str(self._cache_dir)
            else:
                private = tempfile.mkdtemp(prefix="hotline12345-jieba-")
                weakref.finalize(self, shutil.rmtree, private, True)
                tokenizer.tmp_dir = private
            tokenizer.initialize()
            if self.use_dictionary:
                for form in self.dictionary.aliases:
                    tokenizer.add_word(form, tag=None)
            self._tokenizer = tokenizer
            return tokenizer

    def words(self, text: str) -> list[str]:
        """jieba's words of ``text`` (spaces removed first), unfiltered."""
        tokenizer = self._tokenizer or self._load()
        return list(tokenizer.cut(_SPACES.sub("", text), HMM=self.hmm))

    def terms(self, text: str) -> list[str]:
        """The countable terms of ``text`` in order: stop words, single characters, numbers
        (in digits or in words) and tokens without a Chinese character dropped, short forms
        replaced by full names."""
        aliases = self.dictionary.aliases if self.use_dictionary else {}
        stop = self.dictionary.stopwords
        out = []
        for word in self.words(text):
            if len(word) < 2 or word in stop or not _HAN.search(word) or _NUMERALS.match(word):
                continue
            out.append(aliases.get(word, word))
        return out

    def kind(self, term: str) -> TermKind | None:
        """地名, 部门 or 诉求 for a dictionary word, else None."""
        return self.dictionary.kinds.get(term)

    def places(self, terms: Iterable[str]) -> list[str]:
        """The distinct places among ``terms`` (canonical names), in first-seen order."""
        kinds = self.dictionary.kinds
        return list(dict.fromkeys(t for t in terms if kinds.get(t) == PLACE))
