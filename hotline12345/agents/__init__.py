"""Seats and queues live: the AMI monitor, the queue/seat state model, the 12345 figures,
the supervisor wallboard and seat actions.

Modules (imported explicitly, nothing is registered by importing this package):

- :mod:`.codec`   sans-IO AMI codec: bytes in, messages out; actions out as bytes.
- :mod:`.client`  thin asyncio AMI client: login, ping deadline, reconnect, resync, actions.
- :mod:`.state`   the state model, a pure function of AMI events and a clock.
- :mod:`.figures` rolling-window figures (接通率, 15-second answer rate, ...).
- :mod:`.store`   where state lives: in the process, or shared through Redis.
- :mod:`.web`     the aiohttp wallboard, JSON API, SSE push and ``/metrics``.
- :mod:`.service` ``start_agents_services``: what ``hotline12345 serve`` calls.
"""
