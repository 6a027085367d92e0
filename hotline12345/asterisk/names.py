"""Names shared by the renderer, the checker and their tests: contexts, files, placeholders.

Asterisk queue names follow the site's queue names, with two rules:

- an expert-seat group (专家座席) of queue ``q`` is the Asterisk queue ``q-expert``;
- ``queues.conf`` reserves the section ``[general]`` for app_queue's own settings, so a site
  queue called ``general`` cannot be a queue there. It becomes ``general-queue``, and the
  dialplan maps the name the controller sets (``HOTLINE_QUEUE=general``) before ``Queue()``.
  Anything that talks to Asterisk about that queue by name (AMI ``QueueAdd``, events) must use
  :func:`asterisk_queue_name` too; renaming the queue in the site file avoids the mapping.
"""

from __future__ import annotations

import re

#: The files ``asterisk-conf render`` writes, in this order.
CONF_FILES = ("extensions.conf", "queues.conf", "manager.conf", "pjsip.conf")

#: Section names queues.conf keeps for itself (compared case-insensitively by Asterisk).
RESERVED_QUEUE_NAMES = frozenset({"general"})

# Dialplan contexts.
CTX_INBOUND = "hotline12345-inbound"
CTX_QUEUE = "hotline12345-queue"
CTX_QUEUE_NAME = "hotline12345-queue-name"
CTX_RECORD = "hotline12345-record"
CTX_SUB_CENTRE = "hotline12345-sub-centre"
CTX_LINKAGE = "hotline12345-linkage"
CTX_CONFERENCE = "hotline12345-conference"
CTX_3WAY_SEAT = "hotline12345-3way-seat"
CTX_HANGUP = "hotline12345-hangup"
CTX_SEAT_TRANSFER = "hotline12345-seat-transfer"

#: The AMI user the AMI monitor logs in as.
AMI_USER = "hotline12345"
AMI_SECRET_ENV = "HOTLINE12345_AMI_SECRET"

#: Every placeholder secret starts with this; ``check`` flags any value that does.
PLACEHOLDER_PREFIX = "CHANGE_ME_"

_SECTION_SAFE = re.compile(r"[^A-Za-z0-9]+")


def trunk_context(trunk: str) -> str:
    """The inbound dialplan context of a trunk (also its PJSIP endpoint's ``context=``)."""
    return f"hotline12345-from-{trunk}"


def asterisk_queue_name(site_queue: str) -> str:
    """The Asterisk queue name of a site queue (see the module docstring)."""
    if site_queue.lower() in RESERVED_QUEUE_NAMES:
        return f"{site_queue}-queue"
    return site_queue


def expert_queue_name(site_queue: str) -> str:
    return f"{site_queue}-expert"


def trunk_password_env(trunk: str) -> str:
    """``HOTLINE12345_TRUNK_<NAME>_PASSWORD``; ``-`` in a trunk name becomes ``_`` (shells
    cannot set variables with ``-`` in their names)."""
    return f"HOTLINE12345_TRUNK_{_SECTION_SAFE.sub('_', trunk).upper()}_PASSWORD"


def placeholder(env: str) -> str:
    """The value written when the secret's variable was not set at render time."""
    return f"{PLACEHOLDER_PREFIX}set_{env}_and_render_again"


def is_placeholder(value: str) -> bool:
    return value.startswith(PLACEHOLDER_PREFIX)
