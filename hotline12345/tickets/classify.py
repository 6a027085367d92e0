"""Automatic classification of a ticket into department and category, by keyword rules.

The rules come from the site file's ``classification`` section, in order::

    classification:
      - {department: 市场监督管理局, category: 消费投诉, keywords: [退款, 假货]}

The first rule with a keyword in the transcript wins. Vosk's Chinese models put spaces
between words, so spaces are removed before matching: a keyword may span word boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

# The site file's rule is the classifier's rule; re-exported under its short name.
from hotline12345.config.schema import ClassificationRule as Rule

__all__ = ["Classification", "Rule", "RuleLike", "classify", "rules_from"]


class RuleLike(Protocol):
    """Anything with these three attributes, e.g. the site file's ``ClassificationRule``."""

    @property
    def department(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def keywords(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class Classification:
    department: str
    category: str
    matched: tuple[str, ...]  # the rule's keywords found in the text, in rule order


def rules_from(items: Iterable[RuleLike | tuple[str, str, Sequence[str]]]) -> tuple[Rule, ...]:
    """Normalise rule objects or ``(department, category, keywords)`` tuples; a rule with no
    department, no category or no keyword is refused with the rule's position."""
    out: list[Rule] = []
    for index, item in enumerate(items):
        if isinstance(item, tuple):
            department, category, keywords = item
        else:
            department, category, keywords = item.department, item.category, item.keywords
        words = tuple(k.strip() for k in keywords if k and k.strip())
        if not department or not category or not words:
            raise ValueError(f"classification[{index}]: a rule needs a department, a category and "
                             f"at least one keyword (got {department!r}, {category!r}, "
                             f"{list(keywords)!r})")
        out.append(Rule(department, category, words))
    return tuple(out)


def _squash(text: str) -> str:
    return "".join(text.split()).lower()


def classify(text: str, rules: Iterable[Rule]) -> Classification | None:
    """The first rule any of whose keywords occurs in ``text``; None if none does."""
    squashed = _squash(text)
    for rule in rules:
        matched = tuple(k for k in rule.keywords if _squash(k) in squashed)
        if matched:
            return Classification(rule.department, rule.category, matched)
    return None
