"""Segmentation with the 12345 user dictionary: place names stay whole (jieba alone cuts
them), short forms count as the full name, Vosk's spaces do not decide the words, stop
words are dropped, and jieba neither prints nor writes its cache to the shared /tmp."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotline12345.analytics.segment import PLACE, Segmenter, load_dictionary


@pytest.fixture(scope="module")
def plain() -> Segmenter:
    return Segmenter(use_dictionary=False)


@pytest.mark.parametrize("district", ["上城区", "钱塘区"])
def test_a_district_jieba_cuts_stays_whole_with_the_dictionary(
        segmenter: Segmenter, plain: Segmenter, district: str) -> None:
    text = f"我住在{district}那边，晚上噪音扰民很严重"
    assert district not in plain.words(text)  # jieba alone cuts it (上/城区, 钱塘/区)
    assert district in segmenter.words(text)
    assert segmenter.places(segmenter.terms(text)) == [district]


def test_vosk_spaces_are_removed_before_cutting(segmenter: Segmenter) -> None:
    # Vosk may put its word boundary inside a place name: 上 城区.
    terms = segmenter.terms("您好 我 在 上 城区 这边 噪音 扰民 很 严重")
    assert "上城区" in terms and "噪音扰民" in terms
    assert "城区" not in terms


def test_short_forms_count_as_the_full_name(segmenter: Segmenter) -> None:
    terms = segmenter.terms("萧山那边的市监局不管，人社局说拖欠工资的事找劳动局")
    assert "萧山区" in terms and "萧山" not in terms
    assert "市场监督管理局" in terms and "市监局" not in terms
    assert terms.count("人力资源和社会保障局") == 2
    assert segmenter.kind("萧山区") == PLACE
    assert segmenter.kind("市场监督管理局") == "部门"
    assert segmenter.kind("拖欠工资") == "诉求"


def test_stop_words_and_noise_are_not_terms(segmenter: Segmenter) -> None:
    terms = segmenter.terms("喂 您好 请问 是 12345 吗 嗯 就是 那个 abc 我 想 反映 一个 问题")
    assert terms == []


def test_a_spoken_phone_number_is_never_a_term(segmenter: Segmenter) -> None:
    said = "噪音 扰民 我 的 电话 是 幺 三 八 零 零 一 三 八 零 零 零 还有 13800138000 你 记 一下"
    spoken = [w for w in segmenter.words(said) if len(w) >= 2 and set(w) <= set("幺一三八零")]
    assert spoken  # jieba keeps runs of spoken digits together
    assert segmenter.terms(said) == ["噪音扰民"]


def test_the_dictionary_lists_the_province(segmenter: Segmenter) -> None:
    d = load_dictionary()
    places = [w for w, k in d.kinds.items() if k == PLACE]
    assert len(places) == 1 + 11 + 90  # the province, its 11 cities, 90 county-level areas
    assert d.place_city["鄞州区"] == "宁波市"
    assert d.place_city["杭州市"] == "浙江省"


def test_extra_words_from_the_site_file_stay_whole() -> None:
    extra = Segmenter(extra_words=["大数据发展管理局", "核酸检测点"])
    terms = extra.terms("大数据发展管理局说核酸检测点撤了")
    assert "大数据发展管理局" in terms and "核酸检测点" in terms
    assert extra.kind("大数据发展管理局") == "部门"


def test_jieba_prints_nothing_and_keeps_its_cache_in_the_given_dir(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    script = ("import sys; from pathlib import Path; "
              "from hotline12345.analytics.segment import Segmenter; "
              f"s = Segmenter(cache_dir=Path({str(cache)!r})); "
              "print('/'.join(s.terms('钱塘区噪音扰民')))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={"TMPDIR": str(tmp_path / "tmp"), "PATH": "/usr/bin:/bin"},
                         check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "钱塘区/噪音扰民"
    assert run.stderr == ""
    assert [p.name for p in cache.iterdir()] == ["jieba.cache"]
    assert not (tmp_path / "tmp").exists() or not any((tmp_path / "tmp").iterdir())
