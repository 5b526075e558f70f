"""The SSRF guard: no fetch (feed, page, webhook) reaches a non-public address unless allowed.

Addresses other than loopback are checked through `guard` with a test resolver only: no test
opens a socket to anything but 127.0.0.1."""

from __future__ import annotations

import pytest
from loopback_server import Reply, loopback_server

from workers.sources.fetch import (
    Blocked,
    Fetcher,
    Limits,
    Policy,
    TimedOut,
    TooLarge,
    TooManyRedirects,
    guard,
)

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",  # v4-mapped loopback
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]
PUBLIC = ["93.184.216.34", "1.1.1.1", "2606:2800:220:1:248:1893:25c8:1946"]


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused_by_name_and_literal(address: str) -> None:
    with pytest.raises(Blocked, match="non-public"):
        guard("https://news.test/feed.xml", Policy(), resolver({"news.test": [address]}))
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(Blocked, match="non-public"):
        guard(f"http://{literal}/feed.xml", Policy(), resolver({}))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass_and_are_pinned(address: str) -> None:
    target = guard("https://news.test:8443/a?b=1", Policy(), resolver({"news.test": [address]}))
    assert str(target.address) == address
    assert target.host_header() == "news.test:8443"
    assert target.connect_url().endswith(":8443/a?b=1")
    assert "news.test" not in target.connect_url()  # the connection goes to the checked address


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    table = {"mixed.test": ["93.184.216.34", "10.0.0.7"]}
    with pytest.raises(Blocked, match=r"10\.0\.0\.7"):
        guard("http://mixed.test/", Policy(), resolver(table))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://news.test/x",
        "gopher://news.test/",
        "javascript:alert(1)",
        "/feed",
    ],
)
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(Blocked, match="only http"):
        guard(url, Policy(allow_private=True), resolver({"news.test": ["93.184.216.34"]}))


def test_allow_private_and_allowlist_open_it() -> None:
    table = {"intranet.test": ["10.0.0.5"], "other.test": ["10.9.9.9"]}
    assert guard("http://intranet.test/", Policy(allow_private=True), resolver(table))
    assert guard("http://intranet.test/", Policy(allow=("intranet.test",)), resolver(table))
    assert guard("http://other.test/", Policy(allow=("10.9.0.0/16",)), resolver(table))
    with pytest.raises(Blocked):
        guard("http://other.test/", Policy(allow=("intranet.test", "10.0.0.0/24")), resolver(table))


def test_default_settings_send_nothing_to_a_loopback_server() -> None:
    with loopback_server() as server:
        server.routes["/feed.xml"] = lambda seen: Reply(200, b"<rss/>")
        fetcher = Fetcher(Policy(), Limits(timeout_s=2))
        by_name = Fetcher(Policy(), Limits(timeout_s=2), resolver({"feeds.test": ["127.0.0.1"]}))
        try:
            with pytest.raises(Blocked):
                fetcher.get(f"{server.base}/feed.xml")
            with pytest.raises(Blocked):
                fetcher.get(f"http://localhost:{server.port}/feed.xml")
            with pytest.raises(Blocked):
                by_name.get(f"http://feeds.test:{server.port}/feed.xml")
            with pytest.raises(Blocked):
                fetcher.post(f"{server.base}/hook", b"{}", {})
        finally:
            fetcher.close()
            by_name.close()
        assert server.seen == []


def test_redirects_are_guarded_again() -> None:
    """An allowed host redirecting to a refused one: the first request is made, the second never."""
    with loopback_server() as server:
        table = {"allowed.test": ["127.0.0.1"], "evil.test": ["127.0.0.1"]}
        server.routes["/to-evil"] = lambda seen: Reply(
            302, headers={"Location": f"http://evil.test:{server.port}/secret"}
        )
        server.routes["/to-metadata"] = lambda seen: Reply(
            301, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
        )
        server.routes["/to-loopback"] = lambda seen: Reply(
            307, headers={"Location": f"http://127.0.0.1:{server.port}/secret"}
        )
        server.routes["/secret"] = lambda seen: Reply(200, b"secret")
        fetcher = Fetcher(Policy(allow=("allowed.test",)), Limits(timeout_s=2), resolver(table))
        try:
            for start in ("/to-evil", "/to-metadata", "/to-loopback"):
                with pytest.raises(Blocked, match="non-public"):
                    fetcher.get(f"http://allowed.test:{server.port}{start}")
        finally:
            fetcher.close()
        assert server.paths() == ["/to-evil", "/to-metadata", "/to-loopback"]
        assert all(s.headers["host"] == f"allowed.test:{server.port}" for s in server.seen)


def test_limits_redirect_count_size_and_time() -> None:
    with loopback_server() as server:
        server.routes["/loop"] = lambda seen: Reply(302, headers={"Location": "/loop"})
        server.routes["/big"] = lambda seen: Reply(200, b"x" * 300_000)
        server.routes["/slow"] = lambda seen: Reply(200, b"late", delay_s=3)
        server.routes["/ok"] = lambda seen: Reply(200, b"fine", headers={"ETag": '"v1"'})
        fetcher = Fetcher(
            Policy(allow_private=True), Limits(timeout_s=1, max_bytes=100_000, max_redirects=3)
        )
        try:
            with pytest.raises(TooManyRedirects):
                fetcher.get(f"{server.base}/loop")
            assert server.paths().count("/loop") == 4  # the first request and 3 redirects
            with pytest.raises(TooLarge):
                fetcher.get(f"{server.base}/big")
            with pytest.raises(TimedOut):
                fetcher.get(f"{server.base}/slow")
            ok = fetcher.get(f"{server.base}/ok")
        finally:
            fetcher.close()
        assert (ok.status, ok.body, ok.headers["etag"]) == (200, b"fine", '"v1"')
        assert server.seen[-1].headers["user-agent"].startswith("storyfold/")
