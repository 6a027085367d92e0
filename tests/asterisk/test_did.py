"""A registration trunk keeps the dialled number: the registration's Contact has a user the
dialplan recognises, and a call without a DID in its Request-URI (``s``, or that Contact user)
takes it from the SIP To header.

The To header is parsed by the rendered ``[hotline12345-did-from-to]`` steps. The tests run
those very lines through a small interpreter of the few dialplan forms they use (Set, GotoIf,
Return; CUT, FILTER, LEN, PJSIP_HEADER), written from Asterisk 22's func_cut.c and
func_strings.c: CUT splits on one character, fields count from 1, a missing field is empty.
"""

from __future__ import annotations

import re

import pytest

from hotline12345.asterisk.names import CONTACT_USER, CTX_DID_FROM_TO, trunk_context
from hotline12345.config import Site
from hotline12345.config.schema import TrunkAuth

from .conftest import EXT, PJSIP, SHIPPED
from .test_render import sections


def steps_of(context: str) -> list[tuple[str, str, str]]:
    """(label, app, data) of the context's one extension, in order."""
    body = sections((SHIPPED / EXT).read_text(encoding="utf-8"))[context]
    out = []
    for line in body.splitlines():
        m = re.match(r"^(?:exten => s,1|\s*same => n(?:\((\w+)\))?),(\w+)\((.*)\)$", line)
        if m:
            out.append((m.group(1) or "", m.group(2), m.group(3).replace("\\;", ";")))
    return out


class Channel:
    """Just enough of a channel to run the To-header steps."""

    def __init__(self, to_header: str | None) -> None:
        self.to = to_header
        self.vars: dict[str, str] = {}

    def func(self, name: str, arg: str) -> str:
        if name == "PJSIP_HEADER":
            assert arg == "read,To"
            return self.to or ""
        if name == "CUT":
            var, delim, field = arg.split(",")
            assert len(delim) == 1, delim
            parts = self.vars.get(var, "").split(delim)
            n = int(field)
            return parts[n - 1] if n <= len(parts) else ""
        if name == "FILTER":
            allowed, _, text = arg.partition(",")
            assert allowed == "+0-9"
            return "".join(c for c in text if c == "+" or c.isdigit())
        if name == "LEN":
            return str(len(arg))
        raise AssertionError(f"unexpected function {name}")

    def sub(self, text: str) -> str:
        """Substitute ${...} innermost first, then $[...] (numbers, =, !=, |)."""
        while (m := re.search(r"\$\{([^${}]*)\}", text)):
            inner = m.group(1)
            f = re.fullmatch(r"(\w+)\((.*)\)", inner, re.S)
            value = self.func(f.group(1), f.group(2)) if f else self.vars.get(inner, "")
            text = text[:m.start()] + value + text[m.end():]
        while (m := re.search(r"\$\[([^\[\]]*)\]", text)):
            expr = m.group(1).replace("!=", " != ").replace(" = ", " == ").replace("|", " or ")
            assert re.fullmatch(r"[\d\s=!or]+", expr), expr  # only numbers reach expressions
            text = text[:m.start()] + str(int(eval(expr))) + text[m.end():]
        return text

    def run(self, arg1: str) -> str:
        steps = steps_of(CTX_DID_FROM_TO)
        labels = {label: i for i, (label, _, _) in enumerate(steps) if label}
        self.vars["ARG1"] = arg1
        i = 0
        while True:
            _, app, data = steps[i]
            if app == "Set":
                name, _, value = data.partition("=")
                self.vars[name] = self.sub(value)
            elif app == "GotoIf":
                cond, _, target = self.sub(data).partition("?")
                if cond.strip() not in ("", "0"):
                    i = labels[target]
                    continue
            elif app == "Return":
                return self.sub(data)
            elif app != "NoOp":
                raise AssertionError(app)
            i += 1


@pytest.mark.parametrize("to, did", [
    ("<sip:12317@10.0.0.2>;tag=as8a3", "12317"),
    ("<sip:12317@10.0.0.2:5060;transport=udp>", "12317"),
    ('"12345热线" <sip:+8657112317@sbc.unicom.example.net;user=phone>;tag=1', "+8657112317"),
    ("sip:057112317@10.0.0.2;tag=x", "057112317"),
    ("<tel:+8657112317>;tag=9", "+8657112317"),
    ("tel:+8657112317;tag=9", "+8657112317"),
    ("<sip:12317;npdi;rn=0571@10.0.0.2>", "12317"),
    ('"a:b@c" <sip:12318@10.0.0.2>', "12318"),
])
def test_the_did_comes_from_the_to_header(to: str, did: str) -> None:
    assert Channel(to).run("057112345") == did


@pytest.mark.parametrize("to", [
    f"<sip:{CONTACT_USER}@10.0.0.2;line=abc>",  # the provider put our Contact into To too
    "<sip:10.0.0.2>",  # no user part
    "<sip:12a45@10.0.0.2>",
    None,  # not a PJSIP channel: no header
])
def test_without_a_usable_to_user_the_first_access_number(to: str | None) -> None:
    assert Channel(to).run("057112345") == "057112345"


def test_registration_has_a_contact_user_the_dialplan_recognises(site: Site) -> None:
    pjsip = sections((SHIPPED / PJSIP).read_text(encoding="utf-8"))
    ext = sections((SHIPPED / EXT).read_text(encoding="utf-8"))
    registration = [t for t in site.centre.trunks if t.auth is TrunkAuth.REGISTRATION]
    assert registration
    assert not CONTACT_USER.isdigit()  # never a DID
    for trunk in site.centre.trunks:
        body = ext[trunk_context(trunk.name)]
        assert (f"exten => s,1,Set(HOTLINE_TRUNK={trunk.name})\n"
                f" same => n,Gosub({CTX_DID_FROM_TO},s,1({trunk.access_numbers[0]}))\n"
                " same => n,Goto(${GOSUB_RETVAL},1)\n") in body
        if trunk in registration:
            # Without contact_user Asterisk registers sip:s@...: every call arrives as s.
            assert f"contact_user={CONTACT_USER}\n" in pjsip[f"{trunk.name}-registration"]
            assert f"exten => {CONTACT_USER},1,Goto(s,1)\n" in body
        else:
            assert f"exten => {CONTACT_USER}," not in body
