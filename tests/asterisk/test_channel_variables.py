"""The channel-variable contract (``hotline12345.channel_variables``) between the routing
core, the flows and the rendered dialplan: what the dialplan reads from the controller is
exactly ``DIALPLAN_INPUTS``, and the router sets nothing outside ``CONTROLLER_SETS``.

The dialplan is read as text: a name it reads (``${NAME}``) that no ``[globals]``-like
setting and no step of the dialplan sets must come from the controller; a name the
dialplan sets itself counts as the controller's only if the contract says the controller
sets it too (``HOTLINE_QUEUE``: the controller's decision, the fallback's otherwise).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hotline12345 import channel_variables as cv
from hotline12345.asterisk import RenderOptions, render
from hotline12345.asterisk.names import CTX_SETTINGS
from hotline12345.asterisk.names import EXTENSIONS as EXT
from hotline12345.config import Site
from hotline12345.routing import Action, CallContext, Router

OURS = r"(?:HOTLINE_[A-Z0-9_]*[A-Z0-9]|QUEUE_PRIO)"


def read_names(dialplan: str) -> set[str]:
    """Our variables the dialplan reads: ``${NAME}``, ``${NAME:...}``, ``${NAME_${...}}``
    (the last gives its fixed part, which no variable is called)."""
    return set(re.findall(rf"\$\{{({OURS})(?=[}}:])", dialplan))


def set_names(dialplan: str) -> set[str]:
    """Our variables the dialplan sets: ``Set([_[_]]NAME=``, ``SHARED(NAME,``, and the
    ``NAME=`` of an Originate's ``v(...)`` list (``^``-separated)."""
    found = set(re.findall(rf"Set\(_{{0,2}}({OURS})=", dialplan))
    found |= set(re.findall(rf"SHARED\(({OURS}),", dialplan))
    found |= set(re.findall(rf"[(^]_{{0,2}}({OURS})=", dialplan))
    return found


def dialplan_of(site: Site) -> str:
    return render(site, RenderOptions()).files[EXT]


def controller_inputs(dialplan: str) -> set[str]:
    settings = dialplan.split(f"[{CTX_SETTINGS}]", 1)[1].split("\n\n", 1)[0]
    own = set_names(dialplan) - cv.CONTROLLER_SETS
    return read_names(dialplan) - set_names(settings) - own


def test_the_dialplan_reads_exactly_the_contracts_inputs(site: Site) -> None:
    dialplan = dialplan_of(site)
    inputs = controller_inputs(dialplan)
    assert inputs - cv.DIALPLAN_INPUTS == set(), (
        "the dialplan reads variables nobody sets (add them to channel_variables, or set them "
        "in the dialplan)")
    assert cv.DIALPLAN_INPUTS - inputs == set(), (
        "channel_variables.DIALPLAN_INPUTS names variables the dialplan does not read")


def test_the_reader_sees_a_renamed_variable(site: Site) -> None:
    """A dialplan that reads a name the contract does not know, or stops reading one it
    does, is caught."""
    dialplan = dialplan_of(site)
    renamed = dialplan.replace("${HOTLINE_OVERFLOW_DIAL}", "${HOTLINE_OVERFLOW_DIALSTRING}")
    assert controller_inputs(renamed) ^ cv.DIALPLAN_INPUTS == {
        "HOTLINE_OVERFLOW_DIAL", "HOTLINE_OVERFLOW_DIALSTRING"}


def test_the_hop_count_is_the_dialplans_and_the_contracts(site: Site) -> None:
    dialplan = dialplan_of(site)
    assert cv.HOPS in read_names(dialplan) and cv.HOPS in set_names(dialplan)


def test_the_router_sets_only_contract_variables(site: Site) -> None:
    """Every number the dialplan routes to the controller, with and without an answer to
    the one question: the decision's variables are in the contract, and a decision that
    acts carries what the dialplan needs for that action."""
    router = Router(site)
    numbers = set(re.findall(r"^exten => (\+?\d+),1,", dialplan_of(site), re.M))
    assert len(numbers) > 5
    needs = {Action.QUEUE: {cv.ACTION, cv.QUEUE, cv.QUEUE_PRIO, cv.QUEUE_TIMEOUT,
                            cv.OVERFLOW_ACTION, cv.OVERFLOW_TARGET},
             Action.SUB_CENTRE: {cv.ACTION, cv.DIAL, cv.FALLBACK_QUEUE, cv.QUEUE_PRIO},
             Action.LINKAGE: {cv.ACTION, cv.DIAL, cv.TRANSFER, cv.FALLBACK_QUEUE}}
    seen: set[Action] = set()
    for number in sorted(numbers):
        for answer in (None, "", "1", "2", "3"):
            decision = router.decide(CallContext(dialled=number, caller="13800138000",
                                                 answer=answer,
                                                 at=datetime(2026, 12, 7, 2, tzinfo=UTC)))
            assert set(decision.variables) <= cv.CONTROLLER_SETS, (number, answer)
            if decision.action in needs:
                seen.add(decision.action)
                assert needs[decision.action] <= set(decision.variables), (number, answer)
    assert seen == set(needs)
