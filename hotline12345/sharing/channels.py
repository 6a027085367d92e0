"""How one delivery leaves: a signed webhook POST, or an XADD to a Redis Stream. A channel
raises :class:`DeliveryFailed` (or an I/O error) when the event did not get through; the
sender retries it later.

Webhook: the body exactly as stored, the Standard Webhooks headers
(:class:`~hotline12345.sharing.signing.Signer`), the subscription's ``timeout_s`` for the
whole attempt, no redirects followed, 2xx is success. Each subscription has its own
connection pool (its own :class:`aiohttp.ClientSession`), so a slow receiver holds only its
own connections. Unless ``allow_private_targets``, names are resolved and checked by
:class:`~hotline12345.sharing.targets.GuardedResolver`.

Redis Stream: ``XADD <stream> MAXLEN ~ <max_len> * id <event id> type <kind> body <json>``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver
from redis.exceptions import RedisError

from hotline12345.config.schema import FeedSubscription

from .signing import Signer
from .store import DueDelivery
from .targets import GuardedResolver, literal_refusal

__all__ = ["Channel", "DeliveryFailed", "RedisStreamChannel", "WebhookChannel"]


class DeliveryFailed(Exception):
    """The receiver did not take the event; the message says what happened."""


class Channel(Protocol):
    #: sends one at a time, in outbox order (a stream's order is what its readers see)
    sequential: bool

    async def send(self, item: DueDelivery, at: datetime) -> None: ...
    async def close(self) -> None: ...


class WebhookChannel:
    """Signed POSTs to one subscription's URL, at most ``concurrency`` at a time."""

    sequential = False

    def __init__(self, subscription: FeedSubscription, signer: Signer, *, concurrency: int,
                 resolver: Callable[[], AbstractResolver] | None = None) -> None:
        self.subscription = subscription
        self.signer = signer
        self._concurrency = concurrency
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            sub = self.subscription
            inner = self._resolver() if self._resolver is not None else None
            resolver: AbstractResolver | None = (inner if sub.allow_private_targets
                                                 else GuardedResolver(inner))
            connector = aiohttp.TCPConnector(limit=self._concurrency, resolver=resolver)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=sub.timeout_s),
                trust_env=False, auto_decompress=False)
        return self._session

    async def send(self, item: DueDelivery, at: datetime) -> None:
        sub = self.subscription
        why = literal_refusal(sub.url, allow_private=sub.allow_private_targets)
        if why is not None:
            raise DeliveryFailed(why)
        headers = self.signer.headers(item.event_id, at, item.body)
        try:
            async with self._client().post(sub.url, data=item.body, headers=headers,
                                           allow_redirects=False) as response:
                if not 200 <= response.status < 300:
                    raise DeliveryFailed(f"HTTP {response.status} {response.reason or ''}"
                                         .strip())
                await response.read()
        except TimeoutError:
            raise DeliveryFailed(f"no answer within {sub.timeout_s:g} s (timeout_s)") from None
        except aiohttp.ClientConnectorError as exc:
            raise DeliveryFailed(f"cannot connect: {exc.os_error or exc}") from None
        except aiohttp.ClientError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class RedisStreamChannel:
    """XADD to the subscription's stream on ``client`` (a ``redis.asyncio.Redis``), one
    after the other in outbox order: the stream's order is the pull feed's."""

    sequential = True

    def __init__(self, subscription: FeedSubscription, client: Any) -> None:
        self.subscription = subscription
        self._client = client

    async def send(self, item: DueDelivery, at: datetime) -> None:
        sub = self.subscription
        fields = {"id": item.event_id, "type": item.kind, "body": item.body}
        try:
            await self._client.xadd(sub.stream_key, fields, maxlen=sub.max_len,
                                    approximate=True)
        except (RedisError, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"Redis: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        return None
