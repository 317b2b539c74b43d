"""The HAProxy adapter against a real HAProxy: what it shows through a crash, a restore, a drain,
from the stats CSV over HTTP and the runtime API socket alike; and clear one-line errors, never
a hang, when the balancer cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from castui.balancers import HAProxyAdapter, find_server
from castui.balancers.haproxy import csv_url, parse_socket_address, parse_stat_csv
from castui.config.model import Ports
from castui.lab.certs import LabCA
from castui.lab.node import LabNode
from castui.model.balancer import ServerView
from castui.model.errors import LbError
from tests.support.haproxy import HAProxy
from tests.support.net import free_port, free_ports, loopback_block, wait_for
from tests.support.procs import ManagedProcess, require_binary

INTER_MS = 300
TIMEOUT = 0.5
#: How long a failing call may take: the adapter's timeout plus scheduling slack.
NO_HANG = TIMEOUT + 1.0

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def stable(views: list[ServerView]) -> dict[tuple[str, str], tuple[object, ...]]:
    """What both sources must agree on (lastchg and downtime may tick a second apart)."""
    return {(v.backend, v.server): (v.status, v.check_status, v.current_sessions, v.in_rotation)
            for v in views}


@contextlib.asynccontextmanager
async def balanced(tmp_path: Path, lab_ca: LabCA
                   ) -> AsyncIterator[tuple[HAProxy, dict[str, LabNode], HAProxyAdapter,
                                            HAProxyAdapter]]:
    """Two lab nodes behind a real HAProxy (rise 2, fall 3), and an adapter per source."""
    require_binary("haproxy")
    block = loopback_block()
    vip = block.addr(50)
    nodes = {name: LabNode(name, block.addr(20 + i), Ports(epm=0, https=0, http=0),
                           ssl_context=lab_ca.issue(f"{name.lower()}.corp.local"))
             for i, name in enumerate(("CAS1", "CAS2"), start=1)}
    async with contextlib.AsyncExitStack() as stack:
        for node in nodes.values():
            await node.start()
            stack.push_async_callback(node.stop)
        https, stats = free_ports(vip, 2)
        backends = {"https": [(n.name, n.address, n.ports.https) for n in nodes.values()]}
        lb = stack.enter_context(HAProxy(vip, backends, frontend_ports={"https": https},
                                         inter_ms=INTER_MS, rise=2, fall=3, tmpdir=tmp_path,
                                         stats_port=stats))
        by_socket = HAProxyAdapter(socket=str(lb.socket_path), timeout=TIMEOUT)
        by_http = HAProxyAdapter(stats_url=f"http://{vip}:{stats}/", timeout=TIMEOUT)
        yield lb, nodes, by_socket, by_http


async def view(adapter: HAProxyAdapter, server: str) -> ServerView:
    found = find_server(await adapter.servers(), "https", server)
    assert found is not None, f"https/{server} missing from {adapter!r}"
    return found


async def statuses_until(adapter: HAProxyAdapter, server: str, final: str,
                         within: float) -> list[str]:
    """Every distinct status `server` shows, polled fast, until it shows `final`."""
    seen: list[str] = []

    async def reached() -> bool:
        status = (await view(adapter, server)).status
        if not seen or seen[-1] != status:
            seen.append(status)
        return status == final

    await wait_for(reached, within, interval=0.02, what=f"{server} {final} via {adapter!r}")
    return seen


async def both_agree(by_socket: HAProxyAdapter, by_http: HAProxyAdapter) -> None:
    """The two sources give the same view (retried: a check may land between the reads)."""
    async def same() -> bool:
        a, b = await asyncio.gather(by_socket.servers(), by_http.servers())
        return stable(a) == stable(b) and len(a) == 2
    await wait_for(same, 3.0, what="the CSV and the runtime API to agree")


@pytest.mark.integration
async def test_crash_and_restore_pass_through_haproxys_transitional_states(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with balanced(tmp_path, lab_ca) as (_lb, nodes, by_socket, by_http):
        for adapter in (by_socket, by_http):
            await statuses_until(adapter, "CAS1", "UP", 5.0)
        up = await view(by_http, "CAS1")
        assert up.in_rotation and up.check_status == "L4OK" and up.current_sessions == 0
        await both_agree(by_socket, by_http)

        await nodes["CAS1"].crash()
        going_down = await asyncio.gather(
            *(statuses_until(a, "CAS1", "DOWN", 3 * INTER_MS / 1000 + 2.0)
              for a in (by_socket, by_http)))
        for seen in going_down:
            # Up with failed checks counting down (`UP 2/3`, `UP 1/3`), then DOWN.
            assert seen[0] == "UP" and seen[-1] == "DOWN", seen
            assert any(s in ("UP 2/3", "UP 1/3") for s in seen), seen
        down = await view(by_socket, "CAS1")
        assert not down.in_rotation and down.check_status == "L4CON"
        assert (await view(by_socket, "CAS2")).status == "UP"
        await both_agree(by_socket, by_http)

        await nodes["CAS1"].restore()
        coming_up = await asyncio.gather(
            *(statuses_until(a, "CAS1", "UP", 2 * INTER_MS / 1000 + 2.0)
              for a in (by_socket, by_http)))
        for seen in coming_up:
            assert seen == ["DOWN", "DOWN 1/2", "UP"], seen
        back = await view(by_http, "CAS1")
        assert back.in_rotation and back.check_status == "L4OK"
        assert back.downtime_s is not None and back.last_change_s is not None
        assert back.last_change_s <= 2
        await both_agree(by_socket, by_http)


@pytest.mark.integration
async def test_drain_maint_and_ready_through_the_runtime_api(
        tmp_path: Path, lab_ca: LabCA) -> None:
    async with balanced(tmp_path, lab_ca) as (lb, _nodes, by_socket, by_http):
        await statuses_until(by_socket, "CAS2", "UP", 5.0)

        await by_socket.set_state("https", "CAS2", "drain")
        drained = await view(by_http, "CAS2")
        assert drained.status == "DRAIN" and not drained.in_rotation and drained.admin
        assert lb.server_status("https", "CAS2") == "DRAIN"
        assert (await view(by_socket, "CAS1")).in_rotation
        await both_agree(by_socket, by_http)

        await by_socket.set_state("https", "CAS2", "maint")
        held = await view(by_socket, "CAS2")
        assert held.word == "MAINT" and not held.in_rotation and held.admin

        await by_socket.set_state("https", "CAS2", "ready")
        ready = await view(by_socket, "CAS2")
        # Back in rotation at once; out of maintenance its checks count up again (`UP 1/3`).
        assert ready.word == "UP" and ready.in_rotation and not ready.admin
        await statuses_until(by_http, "CAS2", "UP", 5.0)

        with pytest.raises(LbError, match=r"refused 'set server https/CAS9 state drain': "
                                          r"No such server"):
            await by_socket.set_state("https", "CAS9", "drain")
        # A name that would smuggle a second command is refused before anything is sent.
        with pytest.raises(LbError, match="not an HAProxy backend or server name"):
            await by_socket.set_state("https", "CAS2 state maint;", "ready")
        with pytest.raises(LbError, match="need HAProxy's runtime API"):
            await by_http.set_state("https", "CAS2", "drain")
        assert lb.server_status("https", "CAS2") == "UP"


@pytest.mark.integration
async def test_stats_page_with_basic_auth_and_its_own_uri(tmp_path: Path) -> None:
    """`stats uri /haproxy?stats` with `stats auth`: the usual production setup."""
    haproxy = require_binary("haproxy")
    address = loopback_block().addr(60)
    port = free_port(address)
    config = tmp_path / "stats.cfg"
    config.write_text("\n".join([
        "defaults", "    mode http", "    timeout connect 2s", "    timeout client 5s",
        "    timeout server 5s", "",
        "listen stats", f"    bind {address}:{port}", "    stats enable",
        "    stats uri /haproxy?stats", "    stats auth castui:s3cret", "",
        "backend https", "    server CAS1 127.0.0.1:9 disabled", ""]))

    def answers() -> bool:
        with contextlib.suppress(OSError), socket.create_connection((address, port), 0.2):
            return True
        return False

    with ManagedProcess([haproxy, "-f", str(config), "-db"], log_path=tmp_path / "stats.log",
                        ready=answers, stop_signals=((signal.SIGTERM, 3.0),)):
        url = f"http://{address}:{port}/haproxy?stats"
        good = HAProxyAdapter(stats_url=url, auth=("castui", "s3cret"), timeout=TIMEOUT)
        views = await good.servers()
        assert [(v.backend, v.server, v.status, v.in_rotation) for v in views] == [
            ("https", "CAS1", "MAINT", False)]
        wrong = HAProxyAdapter(stats_url=url, auth=("castui", "guess"), timeout=TIMEOUT)
        with pytest.raises(LbError, match="HTTP 401, check the stats user and password") as err:
            await wrong.servers()
        assert "guess" not in str(err.value)


# --- trouble: one clear line, never a hang ----------------------------------------------------


@contextlib.contextmanager
def timed() -> Iterator[None]:
    started = time.monotonic()
    yield
    assert time.monotonic() - started < NO_HANG


async def fails(adapter: HAProxyAdapter, pattern: str) -> str:
    with timed(), pytest.raises(LbError, match=pattern) as err:
        await adapter.servers()
    message = str(err.value)
    assert "\n" not in message
    return message


@contextlib.asynccontextmanager
async def serving(handler: Handler, *, unix: Path | None = None, host: str | None = None,
                  tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[str, int]]:
    """A small real server on loopback (or a Unix socket) running `handler` per connection."""
    if unix is not None:
        server = await asyncio.start_unix_server(handler, path=str(unix))
        address = (str(unix), 0)
    else:
        host = host or loopback_block().addr(70)
        server = await asyncio.start_server(handler, host, 0, ssl=tls)
        address = (host, int(server.sockets[0].getsockname()[1]))
    async with server:
        yield address


def replying(reply: bytes) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await asyncio.wait_for(reader.readuntil(b"\n"), 2.0)
        writer.write(reply)
        await writer.drain()
        writer.close()
    return handle


def http_reply(status: str, body: bytes) -> Handler:
    return replying(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n".encode() + body)


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, read, never answer; ends when the client gives up and closes."""
    with contextlib.suppress(OSError):
        while await asyncio.wait_for(reader.read(1024), 5.0):
            pass
    writer.close()


async def test_missing_socket_path_is_one_clear_line(tmp_path: Path) -> None:
    adapter = HAProxyAdapter(socket=str(tmp_path / "nope.sock"), timeout=TIMEOUT)
    message = await fails(adapter, "no such socket")
    assert str(tmp_path / "nope.sock") in message


async def test_stale_socket_left_by_a_dead_haproxy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))  # the file stays after close, with nobody listening
    await fails(HAProxyAdapter(socket=str(path), timeout=TIMEOUT), "connection refused")


async def test_stats_http_down_is_one_clear_line() -> None:
    address = loopback_block().addr(80)
    adapter = HAProxyAdapter(stats_url=f"http://{address}:{free_port(address)}/",
                             timeout=TIMEOUT)
    await fails(adapter, r"^HAProxy stats http://127\.[0-9.]+:\d+/;csv: Connection refused$")


async def test_garbage_instead_of_csv_is_rejected_from_either_source(tmp_path: Path) -> None:
    garbage = b"<html>\x1b[31mWelcome\x1b[0m to nginx</html>\n"
    async with serving(http_reply("200 OK", garbage)) as (host, port):
        message = await fails(HAProxyAdapter(stats_url=f"http://{host}:{port}/", timeout=TIMEOUT),
                              "not HAProxy stats CSV")
        assert "\x1b" not in message and "Welcome to nginx" in message
    async with serving(replying(b"Unknown command. Please enter one of the following...\n"),
                       unix=tmp_path / "garbage.sock") as (path, _):
        await fails(HAProxyAdapter(socket=path, timeout=TIMEOUT), "not HAProxy stats CSV")


async def test_https_stats_page_is_verified_against_the_configured_ca(
        lab_ca: LabCA, ca_file: Path) -> None:
    host = loopback_block().addr(70)
    csv_text = b"# pxname,svname,status,check_status,\nhttps,CAS1,UP,L7OK,\n"
    async with serving(http_reply("200 OK", csv_text), host=host,
                       tls=lab_ca.issue(host)) as (_, port):
        url = f"https://{host}:{port}/"
        await fails(HAProxyAdapter(stats_url=url, timeout=TIMEOUT),
                    "TLS certificate not trusted")
        trusted = HAProxyAdapter(stats_url=url, ca_file=ca_file, timeout=TIMEOUT)
        assert [(v.server, v.status) for v in await trusted.servers()] == [("CAS1", "UP")]


async def test_http_error_status_is_reported() -> None:
    async with serving(http_reply("404 Not Found", b"no stats here")) as (host, port):
        await fails(HAProxyAdapter(stats_url=f"http://{host}:{port}/stats", timeout=TIMEOUT),
                    r"/stats;csv: HTTP 404 Not Found$")


async def test_a_balancer_that_never_answers_times_out(tmp_path: Path) -> None:
    async with serving(silent) as (host, port):
        await fails(HAProxyAdapter(stats_url=f"http://{host}:{port}/", timeout=TIMEOUT),
                    "no answer within 0.5 s")
        await fails(HAProxyAdapter(socket=f"{host}:{port}", timeout=TIMEOUT),
                    "no answer within 0.5 s")
    async with serving(silent, unix=tmp_path / "silent.sock") as (path, _):
        await fails(HAProxyAdapter(socket=path, timeout=TIMEOUT), "no answer within 0.5 s")


HEADER = "# pxname,svname,scur,status,lastchg,downtime,type,check_status,\n"


def test_csv_parsing_keeps_servers_only_and_cleans_their_text() -> None:
    text = (HEADER
            + "https_fe,FRONTEND,4,OPEN,,,0,,\n"
            + "https,CAS1,4,UP 2/3,17,0,2,* L4OK,\n"
            + "https,CAS\x1b[2J2,0,no check,,,2,,\n"
            + "https,BACKEND,4,UP,17,0,1,,\n")
    assert parse_stat_csv(text) == [
        ServerView("https", "CAS1", "UP 2/3", "L4OK", 4, 17, 0),
        ServerView("https", "CAS2", "no check", None, 0, None, None)]
    assert all(v.in_rotation for v in parse_stat_csv(text))


@pytest.mark.parametrize(("status", "in_rotation", "admin"), [
    ("UP", True, False), ("UP 2/3", True, False), ("no check", True, False),
    ("DOWN", False, False), ("DOWN 1/2", False, False), ("DOWN (agent)", False, False),
    ("NOLB", False, False), ("NOLB 1/3", False, False),
    ("DRAIN", False, True), ("DRAIN 1/3", False, True), ("DRAIN (agent)", False, False),
    ("MAINT", False, True), ("MAINT (via https/CAS1)", False, True),
    ("MAINT (resolution)", False, False),
])
def test_every_haproxy_status_says_whether_new_clients_go_there(
        status: str, in_rotation: bool, admin: bool) -> None:
    view = ServerView("https", "CAS1", status)
    assert (view.in_rotation, view.admin) == (in_rotation, admin)


def test_servers_are_found_by_name_exact_first_then_ignoring_case() -> None:
    views = [ServerView("https", "cas1", "DOWN"), ServerView("https", "CAS1", "UP"),
             ServerView("epm", "CAS2", "UP")]
    assert find_server(views, "https", "CAS1") == views[1]
    assert find_server(views, "HTTPS", "cas2") is None
    assert find_server(views, "EPM", "cas2") == views[2]


def test_csv_parsing_rejects_what_is_not_a_stats_csv() -> None:
    with pytest.raises(LbError, match="lacks the status column"):
        parse_stat_csv("# pxname,svname,scur\nhttps,CAS1,0\n")
    with pytest.raises(LbError, match="line 2 has only 2 fields"):
        parse_stat_csv(HEADER + "https,CAS1\n")
    with pytest.raises(LbError, match=r"got '\(empty reply\)'"):
        parse_stat_csv("")


def test_unusable_addresses_are_config_errors() -> None:
    assert str(parse_socket_address("unix@/run/haproxy/admin.sock")) == "/run/haproxy/admin.sock"
    assert str(parse_socket_address("ipv4@127.0.0.1:9999")) == "127.0.0.1:9999"
    assert str(parse_socket_address("[::1]:9999")) == "[::1]:9999"
    for bad in ("haproxy.sock", "127.0.0.1", "127.0.0.1:0", "host:port"):
        with pytest.raises(ValueError, match="neither a socket path nor host:port"):
            parse_socket_address(bad)
    assert str(csv_url("https://lb.corp.local:8404/haproxy?stats")) == \
        "https://lb.corp.local:8404/haproxy?stats;csv"
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        csv_url("ftp://lb.corp.local/")
    with pytest.raises(ValueError, match="needs a stats_url, a socket, or both"):
        HAProxyAdapter()


def test_a_count_of_5000_digits_makes_the_read_unusable_not_the_monitor_crash() -> None:
    """Issue 12: `int()` refused the 5,000-digit `scur` with a ValueError that stopped the
    monitor; now that reply is the balancer's trouble, named by line and column."""
    with pytest.raises(LbError, match=r"^HAProxy stats CSV line 2: scur is not a count "
                                      r"\('9{20}…'\)$"):
        parse_stat_csv(HEADER + "https,CAS1," + "9" * 5000 + ",UP,17,0,2,L4OK,\n")
    for bad in ("-1", "1e3", "٣", "12 sessions"):
        with pytest.raises(LbError, match="line 2: lastchg is not a count"):
            parse_stat_csv(HEADER + f"https,CAS1,0,UP,{bad},0,2,L4OK,\n")


async def test_a_count_that_does_not_parse_is_one_line_from_the_runtime_api_too(
        tmp_path: Path) -> None:
    row = HEADER + "https,CAS1," + "9" * 5000 + ",UP,17,0,2,L4OK,\n"
    async with serving(replying(row.encode()), unix=tmp_path / "hostile.sock") as (path, _):
        message = await fails(HAProxyAdapter(socket=path, timeout=TIMEOUT),
                              "line 2: scur is not a count")
    assert message.startswith(f"HAProxy socket {path}: ") and len(message) < 300
