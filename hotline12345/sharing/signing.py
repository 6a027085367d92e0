"""Signing webhook deliveries per the Standard Webhooks specification, with the
``standardwebhooks`` package (its :class:`~standardwebhooks.webhooks.Webhook` signs).

Each delivery carries ``webhook-id`` (the event's id, the same on every retry),
``webhook-timestamp`` (seconds, the attempt's time) and ``webhook-signature``: ``v1,<base64
HMAC-SHA256 of "id.timestamp.body">`` for the subscription's secret, followed, while the
secret is being rotated, by the signature with the previous one (space-separated, as the
specification allows): a receiver holding either secret verifies the delivery.

Secrets come from the environment like every other secret (:mod:`hotline12345.secrets`):
``HOTLINE12345_FEED_<NAME>_SECRET`` and, during a rotation,
``HOTLINE12345_FEED_<NAME>_SECRET_PREVIOUS`` (or ``..._FILE`` naming a file). A secret is
``whsec_`` and the base64 of 24 to 64 random bytes (``hotline12345 feed new-secret``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from hotline12345.config.schema import FeedSubscription
from hotline12345.secrets import SecretError, read_secret, secret_source

__all__ = ["PREVIOUS_SUFFIX", "SecretProblem", "Signer", "new_secret", "signer_for"]

PREVIOUS_SUFFIX = "_PREVIOUS"
_PREFIX = "whsec_"


class SecretProblem(Exception):
    """A subscription's secret is missing or malformed; the message names the variable."""


def new_secret() -> str:
    """A fresh secret: ``whsec_`` and the base64 of 32 random bytes."""
    return _PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _checked(value: str, where: str) -> str:
    raw = value.strip()
    body = raw.removeprefix(_PREFIX)
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SecretProblem(f"{where}: not a Standard Webhooks secret (whsec_ and base64); "
                            "make one with: hotline12345 feed new-secret") from None
    if not 24 <= len(key) <= 64:
        raise SecretProblem(f"{where}: the secret holds {len(key)} bytes, it needs 24 to 64; "
                            "make one with: hotline12345 feed new-secret")
    return raw


class Signer:
    """Signs with the current secret and, during a rotation, the previous one."""

    def __init__(self, secrets_in_order: Sequence[str]) -> None:
        if not secrets_in_order:
            raise SecretProblem("no secret to sign with")
        self._webhooks = tuple(Webhook(s) for s in secrets_in_order)

    @property
    def rotating(self) -> bool:
        return len(self._webhooks) > 1

    def headers(self, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
        """The Standard Webhooks headers of one attempt."""
        signatures = " ".join(w.sign(message_id, at, body) for w in self._webhooks)
        return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": signatures, "content-type": "application/json"}


def signer_for(subscription: FeedSubscription) -> Signer:
    """The signer of a webhook subscription, its secrets read from the environment; a
    :class:`SecretProblem` naming the variable when one is missing or malformed."""
    name = subscription.secret_env
    try:
        current = read_secret(name)
        previous = read_secret(name + PREVIOUS_SUFFIX)
    except SecretError as exc:
        raise SecretProblem(str(exc)) from None
    if current is None:
        raise SecretProblem(f"feeds[{subscription.name}]: set {name} (or {name}_FILE) to the "
                            "webhook's signing secret; make one with: hotline12345 feed "
                            "new-secret")
    found = [_checked(current, secret_source(name))]
    if previous is not None:
        found.append(_checked(previous, secret_source(name + PREVIOUS_SUFFIX)))
    return Signer(found)
