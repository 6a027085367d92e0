"""Names shared by the renderer, the checker and their tests: contexts, files, placeholders.

A site queue ``q`` is the Asterisk queue ``q``, so the dialplan, AMI actions and AMI events
use the site's own names (the site file may not name a queue ``general``, the section
queues.conf keeps for itself: ``hotline12345.config.loader.RESERVED_QUEUE_NAMES``). Its
expert-seat group (专家座席) is the Asterisk queue ``q-expert``.
"""

from __future__ import annotations

import re

from hotline12345 import channel_variables

# Named in the site schema (one rule each); re-exported for the renderer and the checker.
from hotline12345.config.schema import expert_queue_name as expert_queue_name
from hotline12345.config.schema import trunk_password_env as trunk_password_env

# The files ``asterisk-conf render`` writes. Each is pulled into the host's own file of the
# same kind with ``#include`` (STOCK_FILES), so the host's other contexts, queues, AMI users and
# endpoints stay as they are.
EXTENSIONS = "extensions_hotline12345.conf"
QUEUES = "queues_hotline12345.conf"
MANAGER = "manager_hotline12345.conf"
PJSIP = "pjsip_hotline12345.conf"
CONFBRIDGE = "confbridge_hotline12345.conf"
#: The rendered files that hold secrets (the AMI secret, trunk passwords): 0600, or 0640
#: with group ASTERISK_GROUP; ``asterisk-conf check`` warns when others may read them.
SECRET_FILES = (MANAGER, PJSIP)
#: The group Asterisk runs as (Debian's packages: user and group asterisk).
ASTERISK_GROUP = "asterisk"
#: The files ``asterisk-conf render`` writes, in this order.
CONF_FILES = (EXTENSIONS, QUEUES, MANAGER, PJSIP, CONFBRIDGE)
#: Rendered file -> the file in /etc/asterisk that includes it.
STOCK_FILES = {EXTENSIONS: "extensions.conf", QUEUES: "queues.conf", MANAGER: "manager.conf",
               PJSIP: "pjsip.conf", CONFBRIDGE: "confbridge.conf"}
#: The site's own PJSIP endpoints (seats, sub-centre links), which the rendered pjsip file
#: pulls in with ``#tryinclude``.
PJSIP_LOCAL = "pjsip_hotline12345_local.conf"

# Dialplan contexts.
CTX_SETTINGS = "hotline12345-settings"
CTX_INBOUND = "hotline12345-inbound"
CTX_DID_FROM_TO = "hotline12345-did-from-to"
CTX_QUEUE = "hotline12345-queue"
CTX_RECORD = "hotline12345-record"
CTX_SUB_CENTRE = "hotline12345-sub-centre"
CTX_LINKAGE = "hotline12345-linkage"
CTX_CONFERENCE = "hotline12345-conference"
CTX_3WAY_SEAT = "hotline12345-3way-seat"
CTX_HANGUP = "hotline12345-hangup"
CTX_SEAT_TRANSFER = "hotline12345-seat-transfer"
CTX_HOPS = "hotline12345-hops"
CTX_HOP_HEADER = "hotline12345-hop-header"
#: 回访: the controller's Originate sends the seat's answered channel here to dial the caller.
CTX_CALLBACK = "hotline12345-callback"
#: The AMI UserEvent the callback context sends when the callback's channel hangs up.
CALLBACK_USEREVENT = "HotlineCallback"
#: Callback recordings go to the recordings directory's name with this suffix (beside it,
#: not in it: a callback is no new call and makes no ticket).
CALLBACK_REC_DIR_SUFFIX = "-callbacks"

#: The hop count: how many times a call has passed through this dialplan. The channel
#: variable (inherited, ``__``) carries it through Local channels and Originate's v(); the
#: SIP header, added by a pre-dial handler on every PJSIP leg, through a trunk that routes the
#: call back to this Asterisk (the variable does not cross SIP; Asterisk 22 has no
#: MAX_FORWARDS function, and a PJSIP leg's Max-Forwards starts again at 70).
HOPS_VARIABLE = channel_variables.HOPS
HOPS_HEADER = "X-Hotline-Hops"
#: ``Dial()``/``Originate()`` option that adds the hop header to each new PJSIP leg.
HOPS_PREDIAL = f"b({CTX_HOP_HEADER}^s^1(${{{HOPS_VARIABLE}}}))"

#: The catch-all extensions of every trunk context: any national number (two digits or more),
#: any E.164 number (+86...), any single digit. ``_X.`` alone misses the last two.
CATCH_ALL = ("_X.", "_+X.", "_X")
#: The inbound context's one extension: everything a trunk context passes on.
INBOUND_PATTERN = "_[+0-9]!"

#: The user part of the Contact a registration trunk registers (pjsip ``contact_user``). A
#: provider that sends its calls to that Contact puts it in the Request-URI, so every call
#: would arrive as this extension: a name, never a DID, so the trunk context recognises it
#: and takes the dialled number from the To header instead.
CONTACT_USER = "hotline12345"

# ConfBridge profiles of the three-way linkage call (confbridge_hotline12345.conf).
BRIDGE_PROFILE = "hotline12345-3way"
CALLER_PROFILE = "hotline12345-3way-caller"
PARTY_PROFILE = "hotline12345-3way-party"

#: The AMI user the AMI monitor logs in as.
AMI_USER = "hotline12345"
AMI_SECRET_ENV = "HOTLINE12345_AMI_SECRET"

#: Every placeholder secret starts with this; ``check`` flags any value that does.
PLACEHOLDER_PREFIX = "CHANGE_ME_"

_SECTION_SAFE = re.compile(r"[^A-Za-z0-9]+")

#: The PJSIP endpoint named in a dial string or an application argument: ``PJSIP/8001`` or
#: ``PJSIP/110@telecom`` (the endpoint is the part after ``@``). The one definition the
#: renderer's site dial strings and the checker's dialplan steps are read with.
PJSIP_DIAL = re.compile(r"PJSIP/(?:[^@/,&)$]+@)?([^@/,&)$]+)")


def pjsip_endpoints(text: str) -> list[str]:
    """Every PJSIP endpoint ``text`` dials, in order (``PJSIP/a&PJSIP/110@b`` -> a, b)."""
    return PJSIP_DIAL.findall(text)


def emergency_forms(number: str) -> tuple[str, ...]:
    """The forms a trunk may deliver an emergency number in: as dialled, and with the
    country code (``+86``, ``86``, ``0086``)."""
    return (number, f"+86{number}", f"86{number}", f"0086{number}")


def trunk_context(trunk: str) -> str:
    """The inbound dialplan context of a trunk (also its PJSIP endpoint's ``context=``)."""
    return f"hotline12345-from-{trunk}"


def placeholder(env: str) -> str:
    """The value written when the secret's variable was not set at render time."""
    return f"{PLACEHOLDER_PREFIX}set_{env}_and_render_again"


def is_placeholder(value: str) -> bool:
    return value.startswith(PLACEHOLDER_PREFIX)
