"""The client commands (`ingest`, `story`, `follow`, `sources`) against a loopback stub that
answers what real deployments do: problem+json, a proxy's HTML 502, 401, 503 with Retry-After,
a refused connection. No model and no Redis: they are HTTP clients."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from loopback_server import LoopbackServer, Reply, Seen, loopback_server
from typer.testing import CliRunner, Result

import storyfold.ingest as ingest_mod
from storyfold import client_commands
from storyfold.cli import _seed
from storyfold.cli import app as cli
from storyfold.ingest import Retry, Unreadable, parse_retry_after, read_articles

ROOT = Path(__file__).resolve().parents[1]
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
UNAUTHORIZED = {"status": 401, "detail": "this server needs an API key: send `Authorization`"}
STORY = {
    "id": "s_1",
    "headline": "Harbour bridge closes",
    "article_count": 2,
    "source_count": 2,
    "articles": [{"source": "Wire"}, {"source": "Gazette"}],
    "summary": None,
    "merged_into": None,
}


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> Reply:
    ctype = "application/problem+json" if status >= 400 else "application/json"
    return Reply(status, json.dumps(body).encode(), {"Content-Type": ctype, **(headers or {})})


def html_502(_: Seen) -> Reply:
    return Reply(502, NGINX_502, {"Content-Type": "text/html"})


def accepting() -> Callable[[Seen], Reply]:
    """POST /articles as storyfold answers it: 202, one id per article (a_0, a_1, ...)."""
    count = iter(range(10**6))

    def route(seen: Seen) -> Reply:
        arts = [{"id": f"a_{next(count)}", "existing": False, "status": "queued"}
                for _ in json.loads(seen.body)]
        return reply(202, {"articles": arts, "accepted": len(arts), "existing": 0})

    return route


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def flat(text: str) -> str:
    """Click's usage errors come in a rich panel that wraps lines: its words, on one line."""
    return " ".join(text.replace("│", " ").split())


def assert_one_line(result: Result, code: int, *words: str) -> None:
    """Exit `code`, no traceback, and the words on one line of stderr."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert any(all(w in line for w in words) for line in result.stderr.splitlines()), result.stderr


@pytest.fixture
def stub() -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        yield server


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries sleep into this list instead of the clock."""
    slept: list[float] = []
    monkeypatch.setattr(ingest_mod, "RETRY", Retry(sleep=slept.append))
    return slept


@pytest.fixture
def three(tmp_path: Path) -> Path:
    lines = [json.dumps({"source": f"S{i}", "text": f"Article {i}."}) for i in range(3)]
    (tmp_path / "three.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path / "three.jsonl"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# H1: --wait says what happened


def test_wait_lists_failed_articles_with_their_reason_and_exits_1(
    stub: LoopbackServer, three: Path
) -> None:
    stub.routes["/articles"] = accepting()
    stub.routes["/articles/a_0"] = lambda _: reply(
        200, {"id": "a_0", "status": "failed", "reason": "no text after extraction"}
    )
    for aid in ("a_1", "a_2"):
        stub.routes[f"/articles/{aid}"] = lambda _: reply(200, {"status": "processed"})
    result = run("ingest", str(three), "--wait", "--api", stub.base)
    assert result.exit_code == 1, result.output
    assert "processed 2, failed 1" in result.stdout
    assert f"failed {three}:1 (a_0): no text after extraction" in result.stdout


def test_wait_timeout_says_how_many_are_still_waiting(stub: LoopbackServer, three: Path) -> None:
    stub.routes["/articles"] = accepting()
    for aid in ("a_0", "a_1", "a_2"):
        stub.routes[f"/articles/{aid}"] = lambda _: reply(200, {"status": "queued"})
    result = run("ingest", str(three), "--wait", "--wait-timeout", "0.3", "--api", stub.base)
    assert result.exit_code == 1, result.output
    assert "processed 0, failed 0, still waiting 3" in result.stdout
    assert_one_line(result, 1, "timed out after 0.3 s", "3 article(s)")


def test_wait_reports_an_article_the_api_does_not_know(stub: LoopbackServer, three: Path) -> None:
    stub.routes["/articles"] = accepting()
    for aid in ("a_0", "a_1", "a_2"):
        stub.routes[f"/articles/{aid}"] = lambda _: reply(404, {"detail": "no article with id"})
    result = run("ingest", str(three), "--wait", "--api", stub.base)
    assert result.exit_code == 1, result.output
    assert "failed 3" in result.stdout and "HTTP 404 Not Found: no article with id" in result.stdout


def test_wait_all_processed_exits_0(stub: LoopbackServer, three: Path) -> None:
    stub.routes["/articles"] = accepting()
    for aid in ("a_0", "a_1", "a_2"):
        stub.routes[f"/articles/{aid}"] = lambda _: reply(200, {"status": "processed"})
    result = run("ingest", str(three), "--wait", "--api", stub.base)
    assert result.exit_code == 0, result.output
    assert "accepted 3" in result.stdout and "processed 3, failed 0" in result.stdout


# M1, M3, L3: HTTP and connection failures are one line, never a traceback


@pytest.mark.parametrize(
    "args", [["story", "s_1"], ["follow", "https://example.org/feed"], ["sources"]]
)
def test_a_proxy_html_502_is_one_line(stub: LoopbackServer, args: list[str]) -> None:
    for path in ("/stories/s_1", "/sources"):
        stub.routes[path] = html_502
    assert_one_line(run(*args, "--api", stub.base), 1, "HTTP 502 Bad Gateway")


def test_an_html_413_on_ingest_is_a_rejection_naming_the_file(
    stub: LoopbackServer, three: Path
) -> None:
    page = b"<html><center><h1>413 Request Entity Too Large</h1></center></html>"
    stub.routes["/articles"] = lambda _: Reply(413, page, {"Content-Type": "text/html"})
    result = run("ingest", str(three), "--api", stub.base)
    assert result.exit_code == 1, result.output
    assert f"rejected {three}:1: 413 Request Entity Too Large" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["story", "s_1"], ["follow", "https://example.org/feed"], ["sources"], ["ingest", "THREE"]],
)
def test_an_api_that_is_not_there_is_one_line_and_exit_2(args: list[str], three: Path) -> None:
    args = [str(three) if a == "THREE" else a for a in args]
    result = run(*args, "--api", f"http://127.0.0.1:{closed_port()}")
    assert_one_line(result, 2, "cannot reach http://127.0.0.1:", "storyfold serve")


@pytest.mark.parametrize("api", ["127.0.0.1:8765", "localhost:8000", "http://", "ftp://x"])
def test_an_api_url_without_http_is_a_usage_error(api: str, three: Path) -> None:
    for args in (["story", "s_1"], ["ingest", str(three)]):
        result = run(*args, "--api", api)
        assert result.exit_code == 2, result.output
        assert "is not an http(s) URL" in flat(result.output)


def test_a_lost_connection_during_the_wait_keeps_the_posting_summary(
    stub: LoopbackServer, three: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dropped(*_: object) -> None:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    stub.routes["/articles"] = accepting()
    monkeypatch.setattr(client_commands, "wait_processed", dropped)
    result = run("ingest", str(three), "--wait", "--api", stub.base)
    assert "accepted 3" in result.stdout
    assert_one_line(result, 2, f"lost {stub.base} while waiting", "disconnected", "were posted")


# M2, M4: ingest retries what a retry can cure, stops at once on what it cannot


def test_ingest_retries_a_503_honouring_retry_after(
    stub: LoopbackServer, three: Path, no_sleep: list[float]
) -> None:
    ok = accepting()
    answers = iter([reply(503, {"detail": "storage is unreachable"}, {"Retry-After": "7"})] * 2)
    stub.routes["/articles"] = lambda seen: next(answers, None) or ok(seen)
    result = run("ingest", str(three), "--api", stub.base)
    assert result.exit_code == 0, result.output
    assert "accepted 3" in result.stdout and no_sleep == [7, 7]
    assert "HTTP 503 Service Unavailable: storage is unreachable; trying again in 7 s" in (
        result.stderr
    )


def test_ingest_gives_up_after_a_few_503s_and_prints_what_was_accepted(
    stub: LoopbackServer, three: Path, no_sleep: list[float]
) -> None:
    ok = accepting()
    posts = iter(range(100))
    busy = reply(503, {"detail": "storage is unreachable; retry shortly"}, {"Retry-After": "600"})
    stub.routes["/articles"] = lambda seen: ok(seen) if next(posts) < 1 else busy
    result = run("ingest", str(three), "--batch", "1", "--api", stub.base)
    assert "accepted 1, already stored 0, rejected 0, not posted 2" in result.stdout
    assert_one_line(result, 1, f"stopped at {three}:2", "HTTP 503", "retry shortly")
    assert no_sleep == [30, 30, 30]  # Retry-After is honoured up to Retry.max_wait_s


@pytest.mark.parametrize("key", [None, "k-wrong"])
def test_a_401_stops_at_once_and_names_the_key_option(
    stub: LoopbackServer, tmp_path: Path, key: str | None
) -> None:
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps({"source": "S", "text": f"A {i}."}) + "\n"
                            for i in range(250)), encoding="utf-8")
    stub.routes["/articles"] = lambda _: reply(401, UNAUTHORIZED)
    args = ["ingest", str(many), "--api", stub.base] + (["--api-key", key] if key else [])
    result = run(*args)
    assert stub.paths() == ["/articles"]  # not a request more
    assert "accepted 0, already stored 0, rejected 0, not posted 250" in result.stdout
    hint = "was not accepted" if key else "pass --api-key KEY or set STORYFOLD_API_KEY"
    assert_one_line(result, 1, f"stopped at {many}:1", "HTTP 401", hint)


def test_a_401_on_story_names_the_key_option(stub: LoopbackServer) -> None:
    stub.routes["/stories/s_1"] = lambda _: reply(401, UNAUTHORIZED)
    assert_one_line(run("story", "s_1", "--api", stub.base), 1, "HTTP 401", "--api-key")


def test_retry_after_as_seconds_or_a_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# M5, L6, L7: story


def test_story_sends_the_api_key_from_the_option_or_the_environment(
    stub: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def keyed(seen: Seen) -> Reply:
        ok = seen.headers.get("authorization") == "Bearer k1"
        return reply(200, STORY) if ok else reply(401, UNAUTHORIZED)

    stub.routes["/stories/s_1"] = keyed
    result = run("story", "s_1", "--api", stub.base, "--api-key", "k1")
    assert result.exit_code == 0 and "Harbour bridge closes" in result.stdout, result.output
    monkeypatch.setenv("STORYFOLD_API_KEY", "k1")
    assert run("story", "s_1", "--api", stub.base).exit_code == 0


def test_story_follows_merged_into(stub: LoopbackServer) -> None:
    stub.routes["/stories/s_0"] = lambda _: reply(
        200, {**STORY, "id": "s_0", "headline": "Old", "merged_into": "s_1"}
    )
    stub.routes["/stories/s_1"] = lambda _: reply(200, STORY)
    result = run("story", "s_0", "--api", stub.base)
    assert result.exit_code == 0, result.output
    assert "s_0 was merged into s_1" in result.stderr
    assert "Harbour bridge closes" in result.stdout and "Old" not in result.stdout


def test_story_quotes_the_id_and_drops_a_trailing_slash(stub: LoopbackServer) -> None:
    stub.routes["/stories/s_1"] = lambda _: reply(200, STORY)
    result = run("story", "s_1", "--api", stub.base + "/")
    assert f"open: {stub.base}/stories/s_1" in result.stdout, result.output
    run("story", "../sources", "--api", stub.base)
    assert stub.paths()[-1] == "/stories/..%2Fsources"


def test_a_200_that_is_not_a_story_is_one_line(stub: LoopbackServer) -> None:
    stub.routes["/stories/s_1"] = lambda _: reply(200, {"hello": "world"})
    stub.routes["/sources"] = lambda _: reply(200, {"hello": "world"})
    for args in (["story", "s_1"], ["sources"]):
        assert_one_line(run(*args, "--api", stub.base), 1, "did not answer as a storyfold")


# M6, M7: reading the files


def test_jsonl_is_split_on_newlines_only(tmp_path: Path) -> None:
    rows = [{"source": "S", "text": f"one{sep}two"} for sep in ("\u2028", "\x85", "\u2029")]
    path = tmp_path / "u.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert list(read_articles(path)) == [(f"{path}:{n}", r) for n, r in enumerate(rows, 1)]


def test_broken_files_are_rejections_named_by_path_and_the_rest_is_posted(
    stub: LoopbackServer, tmp_path: Path
) -> None:
    article = {"source": "S", "text": "Fine."}
    (tmp_path / "a_broken.json").write_text('[{"source": "S", "te', encoding="utf-8")
    (tmp_path / "b_empty.json").write_bytes(b"")
    (tmp_path / "c_bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(article).encode())
    (tmp_path / "d_latin1.jsonl").write_bytes('{"source": "S", "text": "Café"}\n'.encode("latin-1"))
    (tmp_path / "e_good.txt").write_text("Fine.", encoding="utf-8")
    stub.routes["/articles"] = accepting()
    result = run("ingest", str(tmp_path), "--api", stub.base)
    assert result.exit_code == 1, result.output
    assert "accepted 2, already stored 0, rejected 3" in result.stdout
    assert f"rejected {tmp_path / 'a_broken.json'}: invalid JSON" in result.stdout
    assert f"rejected {tmp_path / 'b_empty.json'}: empty file" in result.stdout
    assert f"rejected {tmp_path / 'd_latin1.jsonl'}:1: not UTF-8 (byte 0xe9" in result.stdout
    posted = [a for s in stub.seen for a in json.loads(s.body)]
    assert posted == [article, {"source": "e_good", "text": "Fine."}]


def test_an_unreadable_file_is_a_rejection(tmp_path: Path) -> None:
    folder = tmp_path / "x.json"
    folder.mkdir()  # reading it fails with an OSError (IsADirectoryError)
    [(where, item)] = list(read_articles(folder))
    assert where == str(folder) and isinstance(item, Unreadable)
    assert item.reason.startswith("cannot read")


# L9


def test_more_than_twenty_rejections_say_how_many_more(
    stub: LoopbackServer, tmp_path: Path
) -> None:
    (tmp_path / "bad.jsonl").write_text("{nope\n" * 25, encoding="utf-8")
    result = run("ingest", str(tmp_path), "--api", stub.base)
    assert result.exit_code == 1 and "rejected 25" in result.stdout
    assert result.stdout.count("  rejected ") == 20 and "… and 5 more" in result.stdout


# M8, M9, L12: serve --seeds, the demo, embed-check, dev.py


def test_serve_with_seeds_that_are_not_there_fails_before_starting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run("serve", "--data-dir", str(data), "--seeds", str(tmp_path / "nope"))
    assert result.exit_code == 2 and "does not exist" in flat(result.output), result.output
    (tmp_path / "empty").mkdir()
    result = run("serve", "--data-dir", str(data), "--seeds", str(tmp_path / "empty"))
    assert_one_line(result, 2, "no .txt, .json or .jsonl articles to seed")
    assert not data.exists()  # no Redis was started


def test_the_demo_posts_with_a_key_and_says_why_it_stopped(stub: LoopbackServer) -> None:
    stub.routes["/articles"] = lambda seen: reply(401, UNAUTHORIZED)
    _seed(stub.base, stub.base, [("seeds/a.txt", {"source": "S", "text": "x"})], "k1")
    assert stub.seen[0].headers["authorization"] == "Bearer k1"


def test_embed_check_on_a_path_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    result = run("embed-check", str(tmp_path / "nope.txt"))
    assert result.exit_code == 2 and "does not exist" in flat(result.output), result.output


def test_dev_py_runs_demo_and_test_from_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    assert spec and spec.loader
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    ran: list[tuple[str, str]] = []

    def execve(path: object, args: list[str], env: object) -> None:
        ran.append((args[1], os.getcwd()))
        raise SystemExit(0)

    monkeypatch.setattr(dev, "setup", lambda: None)
    monkeypatch.setattr(dev, "run", lambda *cmd: None)
    monkeypatch.setattr(dev.os, "execve", execve)
    monkeypatch.chdir(tmp_path)
    for command in ("demo", "test"):
        monkeypatch.setattr(sys, "argv", ["dev.py", command, "-x"])
        with pytest.raises(SystemExit):
            dev.main()
        monkeypatch.chdir(tmp_path)
    assert ran == [("serve", str(ROOT)), ("-x", str(ROOT))]
