from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hotline12345.config import Site, load_site

MINIMAL_SITE = """\
centre:
  name: 测试中心
  province: 测试省
  city: 测试市
  trunks:
    - {name: t1, access_numbers: ["12345"], auth: ip, match: [192.0.2.1]}
queues:
  - {name: q-general, label: 综合, expert_seats: [PJSIP/9001]}
  - {name: enterprise, label: 为企服务专席}
  - {name: market, label: 市场监管, overflow: [{waiting_over: 3, to_queue: q-general}]}
  - {name: dialect, label: 方言座席}
sub_centres:
  - {name: tax, label: 税务分中心, dial: PJSIP/12366@tax}
linkage:
  - {name: police, number: "110", label: 公安110, dial: PJSIP/110@t1, transfer: three_way}
  - {name: water, number: "96116", label: 自来水, dial: PJSIP/96116@t1}
enterprise:
  queue: enterprise
  priority: 9
  numbers_file: ent.txt
  prefixes: ["0571"]
  ask: {prompt: ask-ent, digit: "1", on: ["12345"]}
prompts:
  now-12345: {text: 已并入12345}
  ask-ent: {text: 企业请按1}
  ask-lang: {text: 方言请按2}
  blocked: {text: 已限制}
  night: {text: 夜间}
register: {use_default: false}
hotlines:
  - {number: "12317", name: 扶贫, department: 乡村振兴局, mode: 整体并入, target: q-general,
     prompt: 过渡期提示, transition_start: "2021-01-01 08:00", cutover: "2021-02-01 08:00",
     provenance: test}
  - {number: "12358", name: 价格, department: 市场监管, mode: 整体并入, target: market,
     prompt: 过渡期提示, transition_start: 2021-01-01, cutover: 2021-02-01, provenance: test,
     after_cutover: hangup}
  - {number: "12315", name: 市场, department: 市场监管, mode: 双号并行, target: market,
     prompt: 过渡期提示, transition_start: 2021-01-01, cutover: 2021-02-01, provenance: test}
  - {number: "12366", name: 税务, department: 税务局, mode: 设分中心, target: tax,
     prompt: 过渡期提示, transition_start: 2021-01-01, cutover: 2021-02-01, provenance: test}
  - {number: "96116", name: 供水, department: 供水集团, mode: 协同联动, target: water,
     prompt: 过渡期提示, transition_start: 2021-01-01, cutover: 2021-02-01, provenance: test}
blocklist: ["_170XXXXXXXX"]
rules:
RULES
"""

DEFAULT_RULES = """\
  - name: blocked
    when: {blocked: true}
    then: {action: announce_hangup, prompt: blocked}
"""


@pytest.fixture
def make_site(tmp_path: Path) -> Callable[..., Site]:
    def make(rules: str = DEFAULT_RULES, enterprise_numbers: str = "02066668888\n") -> Site:
        (tmp_path / "ent.txt").write_text(enterprise_numbers, encoding="utf-8")
        site = tmp_path / "site.yaml"
        site.write_text(MINIMAL_SITE.replace("RULES\n", rules or "  []\n").replace(
            "rules:\n  []", "rules: []"), encoding="utf-8")
        return load_site(site)
    return make
