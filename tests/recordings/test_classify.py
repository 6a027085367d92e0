"""Keyword classification of tickets."""

from __future__ import annotations

import pytest

from hotline12345.config.schema import ClassificationRule
from hotline12345.tickets.classify import Rule, classify, rules_from

RULES = rules_from([
    ("市场监督管理局", "消费投诉", ["退款", "假货"]),
    ("人力资源和社会保障厅", "劳动保障", ["工资", "欠薪"]),
    ("税务局", "纳税服务", ["发票"]),
])


def test_first_matching_rule_wins_and_lists_its_keywords() -> None:
    found = classify("我 要 退款 老板 还 欠薪 卖 假货", RULES)
    assert found is not None
    assert (found.department, found.category, found.matched) == (
        "市场监督管理局", "消费投诉", ("退款", "假货"))


def test_spaces_between_vosk_words_do_not_hide_a_keyword() -> None:
    found = classify("开 发 票 的 问题", RULES)  # Vosk splits 发票 into 发 票
    assert found is not None and found.department == "税务局"


def test_no_match() -> None:
    assert classify("你好 我 想 咨询 一下", RULES) is None
    assert classify("", RULES) is None


def test_site_file_rules_are_accepted_as_they_are() -> None:
    site_rules = [ClassificationRule("交通运输厅", "交通出行", ("公交",))]
    assert rules_from(site_rules) == (Rule("交通运输厅", "交通出行", ("公交",)),)


@pytest.mark.parametrize("bad", [("", "c", ["k"]), ("d", "", ["k"]), ("d", "c", []),
                                 ("d", "c", ["  "])])
def test_incomplete_rules_are_refused_with_their_position(
        bad: tuple[str, str, list[str]]) -> None:
    with pytest.raises(ValueError, match=r"classification\[1\]: a rule needs"):
        rules_from([("d", "c", ["k"]), bad])
