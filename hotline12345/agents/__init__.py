"""Seats and queues live: the AMI monitor, the queue/seat state model, the 12345 figures,
the supervisor wallboard and seat actions.

Modules (imported explicitly, nothing is registered by importing this package):

- :mod:`.codec`   sans-IO AMI codec: bytes in, messages out; actions out as bytes.
- :mod:`.client`  thin asyncio AMI client: login, ping deadline, reconnect, resync, actions.
- :mod:`.state`   the state model, a pure function of AMI events and a clock; its parts:
  :mod:`.queues` (queues and waiting callers), :mod:`.seats` (seats and their derived
  state), :mod:`.wallboard` (the snapshot the wallboard shows, alerts, chart),
  :mod:`.state_persistence` (the live state as JSON-ready data and back).
- :mod:`.figures` rolling-window figures (接通率, 15-second answer rate, ...).
- :mod:`.store`   where state lives: in the process, or shared through Redis.
- :mod:`.runtime` the running service: state + monitor + store, change notification.
- :mod:`.actions` supervisor actions on seats: validated, sent, confirmed, audited.
- :mod:`.audit`   the audit log table (SQLAlchemy); :mod:`.users` wallboard users (bcrypt).
- :mod:`.web`     assembles the aiohttp wallboard from its parts (listed in its docstring),
  configured by :class:`.web_settings.WebSettings`; it reaches the recordings pipeline only
  through the :class:`.recordings_access.RecordingsAccess` it is given.
- :mod:`.service` ``start_agents_services``: what ``hotline12345 serve`` calls.
- :mod:`.cli`     ``hotline12345 agents users ...``.
"""
