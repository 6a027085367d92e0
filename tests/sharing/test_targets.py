"""SSRF: a feed never sends to the centre's own machine or network unless the site file
allows it: refused when the site file is checked (literal addresses, localhost) and when
delivering (every address a name resolves to is checked, and the connection goes to it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline12345.config import check_site
from hotline12345.config.schema import FeedKind, FeedSubscription
from hotline12345.config.targets import address_refusal, url_refusal
from hotline12345.db.engine import make_engine
from hotline12345.sharing.models import FeedDelivery
from hotline12345.sharing.sender import FeedSender, SenderSettings
from hotline12345.sharing.signing import Signer, new_secret
from tests.waiting import until

from .conftest import Receiver, events, record, site_with_feeds, webhook


@pytest.mark.parametrize(("address", "what"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("224.0.0.251", "multicast"),
    ("ff02::1", "multicast"), ("240.0.0.1", "reserved"), ("fc00::1", "private"),
    ("100.64.0.1", "not globally routable"), ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::a01:203", "private"),
])
def test_addresses_refused(address: str, what: str) -> None:
    why = address_refusal(address)
    assert why is not None and why.endswith(f"a {what} address")


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "202.96.209.5"])
def test_public_addresses_allowed(address: str) -> None:
    assert address_refusal(address) is None


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("https://10.0.0.7/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[::1]:9000/", "loopback"),
    ("http://localhost:9000/", "this machine"),
    ("http://hooks.localhost/", "this machine"),
    ("ftp://example.gov.cn/hook", "scheme must be https"),
    ("https://user:pw@example.gov.cn/hook", "no user name or password"),
])
def test_url_refusals(url: str, expected: str) -> None:
    why = url_refusal(url, allow_private=False)
    assert why is not None and expected in why


def test_private_targets_when_allowed() -> None:
    assert url_refusal("http://127.0.0.1:8080/hook", allow_private=True) is None
    assert url_refusal("https://hooks.example.gov.cn/x", allow_private=False) is None


def test_config_check_names_the_field(tmp_path: Path) -> None:
    subs = [FeedSubscription(name=f"s{i}", department="市场监督管理局", kind=FeedKind.WEBHOOK,
                             url=url)
            for i, url in enumerate(["http://127.0.0.1/h", "http://10.2.3.4/h",
                                     "http://169.254.1.1/h", "http://[::1]/h",
                                     "http://localhost/h"])]
    issues = check_site(site_with_feeds(tmp_path, subs))
    by_path = {i.path: i for i in issues}
    assert set(by_path) == {f"feeds[s{i}].url" for i in range(5)}
    assert all(i.line > 0 for i in issues)
    assert "allow_private_targets: true" in by_path["feeds[s0].url"].message


class MapResolver(AbstractResolver):
    """DNS for the test: each name answers the addresses given."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=address, port=port,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST)
                for address in self.names[host]]

    async def close(self) -> None:
        return None


def last_errors(url: str) -> dict[str, str]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return {d.subscription: d.last_error or ""
                    for d in s.scalars(select(FeedDelivery))}
    finally:
        engine.dispose()


async def test_refused_when_delivering(sqlite_url: str, receiver: Receiver) -> None:
    """The receiver listens on 127.0.0.1: without the guard each of these would reach it."""
    port = receiver.port
    names = {"loop.example.test": ["127.0.0.1"], "ten.example.test": ["10.9.8.7"],
             "meta.example.test": ["169.254.169.254"],
             "mixed.example.test": ["8.8.8.8", "127.0.0.1"]}
    urls = {"literal-v4": f"http://127.0.0.1:{port}/hook", "literal-v6": f"http://[::1]:{port}/hook",
            "system-localhost": f"http://localhost:{port}/hook",
            **{name.split(".")[0]: f"http://{name}:{port}/hook" for name in names}}
    subs = [webhook(name, url, allow_private_targets=False) for name, url in urls.items()]
    allowed = webhook("allowed", f"http://loop.example.test:{port}/hook")
    record(sqlite_url, [*subs, allowed], events(tickets=1, per_ticket=1))
    resolver_names = {**names, "localhost": ["127.0.0.1"]}
    sender = FeedSender(sqlite_url, [*subs, allowed],
                        settings=SenderSettings(poll_s=0.02),
                        signers={s.name: Signer([new_secret()]) for s in [*subs, allowed]},
                        resolver=lambda: MapResolver(resolver_names))
    async with sender:
        await until(lambda: all(last_errors(sqlite_url).get(s.name) for s in subs))
        await until(lambda: len(receiver.accepted) == 1)
    errors = last_errors(sqlite_url)
    assert "127.0.0.1 is a loopback address" in errors["literal-v4"]
    assert "::1 is a loopback address" in errors["literal-v6"]
    assert "localhost resolves to 127.0.0.1: 127.0.0.1 is a loopback address; refused as a " \
        "target (SSRF)" in errors["system-localhost"]
    assert "loop.example.test resolves to 127.0.0.1: 127.0.0.1 is a loopback" in errors["loop"]
    assert "10.9.8.7 is a private address" in errors["ten"]
    assert "169.254.169.254 is a link-local address" in errors["meta"]
    assert "mixed.example.test resolves to 127.0.0.1: 127.0.0.1 is a loopback" in errors["mixed"]
    assert all("SSRF" in errors[s.name] for s in subs)
    # only the subscription that allows private targets reached the receiver
    assert [r.headers["Host"].split(":")[0] for r in receiver.requests] == ["loop.example.test"]


async def test_the_system_resolver_is_guarded(sqlite_url: str, receiver: Receiver) -> None:
    sub = webhook("local", f"http://localhost:{receiver.port}/hook",
                  allow_private_targets=False)
    record(sqlite_url, [sub], events(tickets=1, per_ticket=1))
    async with FeedSender(sqlite_url, [sub], settings=SenderSettings(poll_s=0.02),
                          signers={"local": Signer([new_secret()])}):
        await until(lambda: bool(last_errors(sqlite_url).get("local")))
    assert "localhost resolves to" in last_errors(sqlite_url)["local"]
    assert "loopback" in last_errors(sqlite_url)["local"]
    assert receiver.requests == []
