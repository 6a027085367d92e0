"""Malformed site files: each case edits a valid base site and names the exact errors."""

from __future__ import annotations

BASE = """\
centre:
  name: 测试中心
  province: 测试省
  city: 测试市
  trunks:
    - name: t1
      access_numbers: ["12345"]
      auth: ip
      match: [192.0.2.1]
queues:
  - name: q-general
    label: 综合
  - name: tax
    label: 税务
    overflow:
      - {after_s: 60, to_queue: q-general}
sub_centres:
  - {name: tax-centre, label: 税务分中心, dial: PJSIP/12366@tax}
linkage:
  - {name: police, number: "110", label: 公安110, dial: PJSIP/110@t1, transfer: three_way}
prompts:
  now-12345: {text: 已并入12345}
  ask: {text: 请按1}
register: {use_default: false}
hotlines:
  - number: "12366"
    name: 纳税服务热线
    department: 税务局
    mode: 设分中心
    target: tax-centre
    prompt: 过渡期提示
    transition_start: 2021-06-01
    cutover: 2021-12-31
    provenance: test
rules:
  - name: r1
    when: {dialled: ["12366"]}
    then: {action: queue, target: tax}
"""

#: The last line of BASE: the ticket loop's cases add their sections after it.
_END = "    then: {action: queue, target: tax}\n"

# (case id, [(old, new), ...] applied to BASE, expected errors as printed by `config check`)
CASES: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    ("unknown-top-level-key", [("rules:\n", "rulez: []\nrules:\n")],
     ['site.yaml:35:1 rulez: unknown key "rulez"; known keys here: blocklist, calendar, centre, classification, controller, departments, enterprise, feeds, hotlines, linkage, mode_defaults, prompts, queues, register, rules, speech, sub_centres, tickets']),
    ("unknown-queue-key", [("    label: 综合\n", "    label: 综合\n    lable: x\n")],
     ['site.yaml:13:5 queues[q-general].lable: unknown key "lable"; known keys here: announce, expert_seats, label, members, name, overflow, service_level_s, skills, strategy, timeout_s, wrapup_s']),
    ("missing-required-field", [("    label: 税务\n", "")],
     ['site.yaml:13:5 queues[tax]: missing required field "label"']),
    ("undefined-register-target", [("    target: tax-centre\n", "    target: tax-expert\n")],
     ['site.yaml:30:5 hotlines[12366].target: sub-centre "tax-expert" is not defined; defined '
      "sub-centres: tax-centre"]),
    ("wrong-target-kind-for-mode", [("    mode: 设分中心\n", "    mode: 整体并入\n")],
     ['site.yaml:30:5 hotlines[12366].target: queue "tax-centre" is not defined; defined queues: q-general, tax']),
    ("bad-mode", [("    mode: 设分中心\n", "    mode: 分中心\n")],
     ["site.yaml:29:5 hotlines[12366].mode: the text '分中心' is not one of: 整体并入, 双号并行, "
      "设分中心, 协同联动"]),
    ("unordered-dates", [("    cutover: 2021-12-31\n", "    cutover: 2021-05-31\n")],
     ["site.yaml:33:5 hotlines[12366].cutover: cut-over 2021-05-31 00:00 must come after "
      "transition_start 2021-06-01 00:00"]),
    ("bad-date", [("    cutover: 2021-12-31\n", "    cutover: next year\n")],
     ['site.yaml:33:5 hotlines[12366].cutover: "next year" is not a valid date or date-time; '
      'write e.g. 2021-01-01 or "2021-01-01 08:30"']),
    ("impossible-unquoted-date", [("    cutover: 2021-12-31\n", "    cutover: 2021-13-45\n")],
     ['site.yaml:33:5 hotlines[12366].cutover: "2021-13-45" is not a valid date or date-time '
      '(month must be in 1..12); write e.g. 2021-01-01 or "2021-01-01 08:30"']),
    ("scalar-for-a-list", [('access_numbers: ["12345"]', "access_numbers: 12345")],
     ["site.yaml:7:7 centre.trunks[t1].access_numbers: expected a list, got the number 12345; "
      'write it as a list in brackets: [12345], or ["12345"] for a number']),
    ("scalar-seat-for-a-list", [("    label: 综合\n", "    label: 综合\n    expert_seats: PJSIP/8001\n")],
     ["site.yaml:13:5 queues[q-general].expert_seats: expected a list, got the text "
      "'PJSIP/8001'; write it as a list in brackets: [PJSIP/8001], or [\"PJSIP/8001\"] for a "
      "number"]),
    ("out-of-range-after-s", [("{after_s: 60, to_queue: q-general}",
                               "{after_s: 100000000000000000000000000000000, to_queue: q-general}")],
     ["site.yaml:16:10 queues[tax].overflow[0].after_s: 100000000000000000000000000000000 is out "
      "of range: after_s (seconds in queue before the overflow) goes from 0 to 3600"]),
    ("float-after-s", [("{after_s: 60, to_queue: q-general}", "{after_s: 1e32, to_queue: q-general}")],
     ["site.yaml:16:10 queues[tax].overflow[0].after_s: expected a whole number, got the number "
      "1e+32"]),
    ("structural-and-cross-reference-errors-together",
     [("    label: 税务\n", "    label: 税务\n    timeout_s: soon\n"),
      ("then: {action: queue, target: tax}", "then: {action: queue, target: taxes}")],
     ["site.yaml:15:5 queues[tax].timeout_s: expected a whole number, got the text 'soon'",
      'site.yaml:39:27 rules[r1].then.target: queue "taxes" is not defined; defined: q-general, tax']),
    ("undefined-overflow-queue", [("to_queue: q-general}", "to_queue: backup}")],
     ['site.yaml:16:23 queues[tax].overflow[0].to_queue: queue "backup" is not defined; defined queues: q-general, tax']),
    ("duplicate-queue-name", [("  - name: tax\n    label: 税务\n", "  - name: q-general\n    label: 税务\n")],
     ['site.yaml:11:5 queues[q-general]: name "q-general" is used twice in queues; names must be unique',
      'site.yaml:16:23 queues[q-general].overflow[0].to_queue: a queue cannot overflow to itself',
      'site.yaml:38:27 rules[r1].then.target: queue "tax" is not defined; defined: q-general']),
    ("duplicate-did-across-trunks",
     [("      match: [192.0.2.1]\n", "      match: [192.0.2.1]\n    - {name: t2, access_numbers: "
       "[\"12345\"], match: [192.0.2.2]}\n")],
     ['site.yaml:10:18 centre.trunks[t2].access_numbers: number "12345" is already an access number of trunk "t1"; a DID belongs to one trunk']),
    ("register-number-is-access-number", [('  - number: "12366"', '  - number: "12345"'),
                                          ('dialled: ["12366"]', 'dialled: ["12345"]')],
     ['site.yaml:26:5 hotlines[12345].number: 12345 is also a 12345 access number of a trunk; a DID has one meaning']),
    ("undefined-prompt-in-rule", [("then: {action: queue, target: tax}",
                                   "then: {action: announce_hangup, prompt: closed}")],
     ['site.yaml:38:37 rules[r1].then.prompt: prompt "closed" is not defined; defined prompts: ask, now-12345']),
    ("announce-without-prompt", [("then: {action: queue, target: tax}",
                                  "then: {action: announce_hangup}")],
     ['site.yaml:38:5 rules[r1].then.prompt: announce_hangup needs the prompt to play']),
    ("rule-dialled-not-a-number", [('dialled: ["12366"]', 'dialled: ["12366a"]')],
     ['site.yaml:37:12 rules[r1].when.dialled: "12366a" is not a phone number; use digits, e.g. "12345"']),
    ("bad-caller-pattern", [('when: {dialled: ["12366"]}', 'when: {caller: ["_13Q"]}')],
     ['site.yaml:37:21 rules[r1].when.caller[0]: "_13Q": character "Q" is not allowed in a pattern; use digits, X, Z, N, [..], . or !']),
    ("unquoted-time", [('when: {dialled: ["12366"]}', "when: {time: {start: 8, end: \"17:00\"}}")],
     ['site.yaml:37:19 rules[r1].when.time.start: write times in quotes, e.g. "08:30" (YAML read 8)']),
    ("bad-weekday", [('when: {dialled: ["12366"]}', "when: {time: {days: [0, 8]}}")],
     ['site.yaml:37:19 rules[r1].when.time.days: 0 is not an ISO weekday; use 1 (Monday) to 7 (Sunday)',
      'site.yaml:37:19 rules[r1].when.time.days: 8 is not an ISO weekday; use 1 (Monday) to 7 (Sunday)']),
    ("wrong-type-number", [("  - name: tax\n    label: 税务\n",
                            "  - name: tax\n    label: 税务\n    service_level_s: fifteen\n")],
     ["site.yaml:15:5 queues[tax].service_level_s: expected a whole number, got the text 'fifteen'"]),
    ("bad-timezone", [("  city: 测试市\n", "  city: 测试市\n  timezone: Asia/Beijing\n")],
     ['site.yaml:5:3 centre.timezone: unknown timezone "Asia/Beijing"; use an IANA name such as '
      "Asia/Shanghai"]),
    ("yaml-syntax-error", [("    label: 综合\n", "    label: [综合\n")],
     ["site.yaml:13:9 YAML syntax error: expected ',' or ']', but got ':'"]),
    ("duplicate-yaml-key", [("  city: 测试市\n", "  city: 测试市\n  city: 另一市\n")],
     ['site.yaml:5:3 YAML syntax error: found duplicate key "city" with value "另一市" (original '
      'value: "测试市"); each key may appear once in a mapping']),
    ("missing-now-12345-prompt", [("  now-12345: {text: 已并入12345}\n", "")],
     ['site.yaml:21:1 prompts: the prompt "now-12345" (played on retired numbers) must be '
      "defined"]),
    ("prompt-text-and-file", [("  ask: {text: 请按1}", "  ask: {text: 请按1, file: ask.wav}")],
     ['site.yaml:23:3 prompts[ask]: give exactly one of text (spoken by espeak-ng) or file (a recording)',
      'site.yaml:23:20 prompts[ask].file: recording "ask.wav" not found (relative to the site file)']),
    ("new-hotline-missing-fields", [("rules:\n", '  - {number: "12399", name: 新线}\nrules:\n')],
     ['site.yaml:35:6 hotlines[12399].number: new hotline 12399 needs department, mode, target, prompt, transition_start, cutover, provenance (it is not in the default register, so every field must be given)']),
    ("after-cutover-on-sub-centre", [("    provenance: test\n",
                                      "    provenance: test\n    after_cutover: hangup\n")],
     ["site.yaml:35:5 hotlines[12366].after_cutover: only 整体并入 numbers are retired; 设分中心 "
      "numbers stay live"]),
    ("ip-trunk-without-match", [("      match: [192.0.2.1]\n", "")],
     ["site.yaml:6:7 centre.trunks[t1].match: IP authentication needs the provider's addresses in match, e.g. [203.0.113.10]"]),
    ("undefined-general-queue", [("  city: 测试市\n", "  city: 测试市\n  general_queue: main\n")],
     ['site.yaml:5:3 centre.general_queue: queue "main" is not defined; defined queues: q-general, tax']),
    ("question-leads-to-question",
     [("    then: {action: queue, target: tax}\n",
       "    then: {action: ask}\n    ask: {prompt: ask, options: {\"1\": {action: ask}}, "
       "default: {action: queue, target: tax}}\n")],
     ['site.yaml:39:40 rules[r1].ask.options[1].action: a caller is asked one question at most; an answer cannot lead to another question']),
    ("hotline-listed-twice", [("rules:\n", '  - {number: "12366", name: 税务热线}\nrules:\n')],
     ['site.yaml:26:5 hotlines[12366]: number "12366" is listed twice; merge the two entries']),
    ("queue-name-reserved-by-asterisk", [("  - name: q-general\n", "  - name: General\n"),
                                         ("to_queue: q-general}", "to_queue: General}")],
     ['site.yaml:1:1 centre.general_queue: queue "q-general" is not defined; defined queues: General, tax',
      'site.yaml:11:5 queues[General].name: "General" cannot name a queue: queues.conf keeps [general] for app_queue\'s own settings; rename it, e.g. "q-general"']),
    ("classification-without-keywords",
     [("rules:\n", "classification:\n  - {department: 税务局, category: 纳税服务, keywords: []}\nrules:\n")],
     ['site.yaml:36:39 classification[0].keywords: list at least one keyword, e.g. [退款, 假货]']),
    ("leading-zero-number-unquoted", [('access_numbers: ["12345"]', "access_numbers: [057112345]")],
     ['site.yaml:7:24 centre.trunks[t1].access_numbers[0]: write "057112345" in quotes: unquoted, YAML reads it as the number 57112345 and drops the leading zero']),
    ("timezone-not-a-name", [("  city: 测试市\n", "  city: 测试市\n  timezone: 8\n")],
     ['site.yaml:5:3 centre.timezone: unknown timezone "8"; use an IANA name such as Asia/Shanghai']),
    ("backwards-range-in-pattern", [('when: {dialled: ["12366"]}', 'when: {caller: ["_1[9-3]X"]}')],
     ['site.yaml:37:21 rules[r1].when.caller[0]: "_1[9-3]X": range "9-3" runs backwards; write [3-9]']),
    ("overflow-cycle", [("    label: 综合\n", "    label: 综合\n    overflow: [{waiting_over: 5, to_queue: tax}]\n"),
                        ("{after_s: 60, to_queue: q-general}", "{waiting_over: 9, to_queue: q-general}")],
     ['site.yaml:13:5 queues[q-general].overflow: overflow on callers waiting goes round in a circle (q-general → tax → q-general); end the chain at a queue without waiting_over overflow']),
    ("registration-trunk-without-username",
     [("      auth: ip\n      match: [192.0.2.1]\n", "      auth: registration\n      host: sbc.example.net\n"),
      ("    - name: t1\n", "    - name: china-unicom\n")],
     ['site.yaml:8:7 centre.trunks[china-unicom].auth: registration needs host and username (the password comes from HOTLINE12345_TRUNK_CHINA_UNICOM_PASSWORD)']),
    ("empty-file", [(BASE, "")],
     ["site.yaml:1:1 the file is empty; start from the shipped default site (hotline12345 "
      "config show)"]),
    # the ticket loop: calendar, departments, deadlines
    ('calendar-bad-date', [(_END, _END + 'calendar:\n  holidays: [2027-02-30]\n')],
     ['site.yaml:40:14 calendar.holidays[0]: "2027-02-30" is not a valid date (day is out of range for month); write e.g. 2027-01-01']),
    ('calendar-date-with-time', [(_END, _END + 'calendar:\n  workdays: ["2027-02-20 09:00"]\n')],
     ['site.yaml:40:14 calendar.workdays[0]: "2027-02-20 09:00" has a time of day; give the date alone, e.g. 2027-02-20']),
    ('calendar-date-twice-and-both', [(_END, _END + 'calendar:\n  holidays: [2027-01-01, 2027-01-01]\n  workdays: [2027-01-01]\n')],
     ['site.yaml:40:3 calendar.holidays: 2027-01-01 is listed twice', 'site.yaml:41:3 calendar.workdays: 2027-01-01 is also in calendar.holidays; a day is a holiday or a working day, not both']),
    ('office-hours-overlap', [(_END, _END + 'calendar:\n  office_hours: ["09:00-12:00", "11:30-17:30"]\n')],
     ['site.yaml:40:3 calendar.office_hours: office hours overlap around 11:30; list separate spans, e.g. ["09:00-12:00", "13:30-17:30"]']),
    ('office-hours-empty', [(_END, _END + 'calendar:\n  office_hours: []\n')],
     ['site.yaml:40:3 calendar.office_hours: give at least one span of office hours, e.g. ["09:00-12:00", "13:30-17:30"]']),
    ('office-hours-backwards', [(_END, _END + 'calendar:\n  office_hours: ["17:30-13:30"]\n')],
     ['site.yaml:40:3 calendar.office_hours: "17:30-13:30" ends before it starts (or is empty); a span lies within one day, e.g. "13:30-17:30"']),
    ('office-hours-malformed', [(_END, _END + 'calendar:\n  office_hours: ["9h-12h"]\n')],
     ['site.yaml:40:3 calendar.office_hours: "9h-12h" is not a span of office hours; write it as "HH:MM-HH:MM", e.g. "09:00-12:00"']),
    ('calendar-bad-timezone', [(_END, _END + 'calendar:\n  timezone: Beijing\n')],
     ['site.yaml:40:3 calendar.timezone: unknown timezone "Beijing"; use an IANA name such as Asia/Shanghai']),
    ('limit-rule-without-urgency-or-category', [(_END, _END + 'tickets:\n  limits:\n    - {answer_working_days: 3}\n')],
     ['site.yaml:41:7 tickets.limits[0]: give urgency and/or category: the rule says which tickets it is for (limits for every ticket are tickets.sign_working_days, tickets.answer_working_days, ...)']),
    ('limit-rule-unknown-urgency', [(_END, _END + 'tickets:\n  limits:\n    - {urgency: 特急, answer_hours: 1}\n')],
     ["site.yaml:41:8 tickets.limits[0].urgency: the text '特急' is not one of: 紧急, 一般"]),
    ('limit-rule-negative-and-zero', [(_END, _END + 'tickets:\n  limits:\n    - {category: 咨询, answer_working_days: -3, sign_hours: 0}\n')],
     ['site.yaml:41:22 tickets.limits[0].answer_working_days: -3 is out of range: more than 0 and at most 250 working days', 'site.yaml:41:47 tickets.limits[0].sign_hours: 0 is out of range: more than 0 and at most 8760 hours']),
    ('limit-rule-hours-and-days', [(_END, _END + 'tickets:\n  limits:\n    - {category: 咨询, answer_working_days: 3, answer_hours: 4}\n')],
     ['site.yaml:41:46 tickets.limits[0].answer_hours: give answer_hours (wall clock, 7×24) or answer_working_days, not both']),
    ('limit-rule-sets-nothing', [(_END, _END + 'tickets:\n  limits:\n    - {category: 咨询}\n')],
     ['site.yaml:41:7 tickets.limits[0]: the rule sets no limit; give e.g. answer_working_days: 3 or answer_hours: 2']),
    ('ticket-loop-out-of-range', [(_END, _END + 'tickets:\n  answer_working_days: 0\n  max_extensions: 50\n  max_reopens: -1\n  merge_window_hours: 0\n')],
     ['site.yaml:40:3 tickets.answer_working_days: 0 is out of range: more than 0 and at most 250 working days', 'site.yaml:41:3 tickets.max_extensions: 50 is out of range: the number of 延期 a ticket may get goes from 0 to 10', 'site.yaml:42:3 tickets.max_reopens: -1 is out of range: the number of 重办 after a 不满意 rating goes from 0 to 5', 'site.yaml:43:3 tickets.merge_window_hours: 0 is out of range: more than 0 and at most 8760 hours']),
    ('classification-department-not-listed', [(_END, _END + 'classification:\n  - {department: 税务局, category: 纳税服务, keywords: [发票]}\n  - {department: 市场监管局, category: 消费投诉, keywords: [退款]}\ndepartments:\n  - {name: 税务局, categories: [纳税服务]}\n  - {name: 公安局}\n')],
     ['site.yaml:41:6 classification[1].department: department "市场监管局" is not in departments; departments: 公安局, 税务局. Add it under departments: or correct the name']),
    ('department-listed-twice', [(_END, _END + 'departments:\n  - {name: 税务局}\n  - {name: 税务局}\n')],
     ['site.yaml:40:5 departments[税务局]: name "税务局" is used twice in departments; names must be unique']),
]
