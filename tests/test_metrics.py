"""`/metrics` as Prometheus reads it: the contract's names and labels, what they say about an
estate, hostile names, and who may read them.

The estate is the console's deterministic one (tests/support/ui_estate.py: the real engine fed
fixed probe results); the endpoint is the real server on loopback, read over HTTP and parsed
with prometheus_client's own text parser, as a scrape would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import socket
import ssl
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trustme
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from castui.config import parse_config
from castui.engine.monitor import Monitor
from castui.history import EventStore
from castui.lab.certs import LabCA
from castui.lab.layout import LabTiming
from castui.metrics import MetricsError, MetricsOptions, MetricsServer, metrics_server
from castui.metrics.options import check_exposure, parse_listen
from tests.support.lab import watched_lab
from tests.support.net import free_port, wait_for, wait_for_sync
from tests.support.prometheus import CONTRACT
from tests.support.ui_estate import (
    CONFIG,
    Driver,
    FrozenClock,
    deep_config,
    lb_view,
    new_monitor,
    refused,
    status_503,
)

LOOPBACK = "127.0.0.1"
#: Exchange 2013 at an easy pace: the VIP is sampled every round (it names who answered).
STEADY_2013 = LabTiming(interval=1.0, timeout=0.8, rise=2, fall=3, lb_inter=0.3, lb_rise=2,
                        lb_fall=3, lb_timeout=0.2)


def samples(text: str) -> list[Sample]:
    """Every sample of an exposition, through prometheus_client's parser (which raises on
    anything that is not valid text exposition)."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: list[Sample], name: str, **labels: str) -> float:
    hits = [s.value for s in found if s.name == name and s.labels == labels]
    assert len(hits) == 1, f"{name}{labels}: {len(hits)} samples"
    return hits[0]


@pytest.fixture
async def deep(tmp_path: Path) -> AsyncIterator[tuple[Driver, MetricsServer]]:
    """The deep two-site estate (agents, balancers, VIP sampling, certificates) seen OK, with
    its metrics served on a free loopback port."""
    clock = FrozenClock()
    with EventStore(tmp_path / "history.sqlite3") as store:
        monitor = new_monitor(deep_config(tmp_path), store, clock)
        server = metrics_server(MetricsOptions(LOOPBACK, 0), monitor)
        driver = Driver(monitor, clock)
        driver.balancer["Site-A"] = {name: lb_view(name, "UP") for name in ("CAS1", "CAS2")}
        driver.faults["Site-B/CAS5"] = {"ews": status_503}  # a service check: degraded
        async with server:
            driver.run(8)
            yield driver, server


async def scrape(server: MetricsServer, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=10, **kwargs) as client:  # type: ignore[arg-type]
        return await client.get(server.url)


async def test_every_metric_of_the_contract_with_its_labels(
        deep: tuple[Driver, MetricsServer]) -> None:
    _, server = deep
    response = await scrape(server)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    names = {s.name for s in found}
    assert names == set(CONTRACT)
    for sample in found:
        assert set(sample.labels) == CONTRACT[sample.name], sample
    assert value(found, "castui_build_info", version=__import__("castui").__version__) == 1
    assert value(found, "castui_node_in_pool", site="Site-A", node="CAS2") == 1
    one_hot = {s.labels["state"]: s.value for s in found if s.name == "castui_node_state"
               and s.labels["node"] == "CAS2"}
    assert one_hot == {"up": 1, "down": 0, "degraded": 0, "partial": 0, "maint": 0, "unknown": 0}
    assert value(found, "castui_vip_up", site="Site-A") == 1
    assert value(found, "castui_dns_answer_is_vip", site="Site-A",
                 resolver="127.0.60.54:20053") == 1
    assert value(found, "castui_dns_ttl_seconds", site="Site-A",
                 resolver="127.0.60.53:20053") == 300
    assert value(found, "castui_vip_answer_share", site="Site-A", node="CAS1") == \
        pytest.approx(1 / 3)
    assert value(found, "castui_node_connections", site="Site-A", node="CAS1", port="443") == 25
    assert value(found, "castui_probe_http_status_code", site="Site-A", target="CAS1",
                 check="owa") == 200
    assert value(found, "castui_round_duration_seconds", site="Site-B", target="vip") == 0.31
    assert value(found, "castui_events_total", site="Site-A", kind="monitor_started") == 0
    failing = [s.labels for s in found if s.name == "castui_probe_failure_info"]
    assert failing == [{"site": "Site-B", "target": "CAS5", "check": "ews", "code": "L7STS"}]
    assert value(found, "castui_node_state", site="Site-B", node="CAS5", state="degraded") == 1
    assert value(found, "castui_node_in_pool", site="Site-B", node="CAS5") == 1
    assert value(found, "castui_lb_disagrees", site="Site-A", node="CAS1") == 0
    assert not [s for s in found if s.name == "castui_lb_disagrees" and s.labels["node"] in
                ("CAS3", "CAS4")]  # no balancer verdict for them: no series


async def test_a_crashed_node_and_a_node_in_maintenance(
        deep: tuple[Driver, MetricsServer]) -> None:
    driver, server = deep
    driver.monitor.set_maintenance("Site-A", "CAS3", 3600, "patching")
    driver.faults["Site-A/CAS2"] = refused
    driver.faults["Site-A/CAS3"] = refused
    driver.run(8)
    found = samples((await scrape(server)).text)
    assert value(found, "castui_node_in_pool", site="Site-A", node="CAS2") == 0
    assert value(found, "castui_node_state", site="Site-A", node="CAS2", state="down") == 1
    assert value(found, "castui_probe_failure_info", site="Site-A", target="CAS2",
                 check="epm", code="L4CON") == 1
    assert value(found, "castui_probe_success", site="Site-A", target="CAS2", check="epm") == 0
    assert value(found, "castui_probe_http_status_code", site="Site-A", target="CAS2",
                 check="owa") == 0
    assert value(found, "castui_events_total", site="Site-A", kind="node_down") == 2
    assert value(found, "castui_events_total", site="Site-A", kind="maint_set") == 1
    # The node in maintenance is out of the pool too, but marked, and raised no alert.
    assert value(found, "castui_node_in_pool", site="Site-A", node="CAS3") == 0
    assert value(found, "castui_node_state", site="Site-A", node="CAS3", state="maint") == 1
    assert value(found, "castui_node_state", site="Site-A", node="CAS3", state="down") == 0
    assert value(found, "castui_maintenance", site="Site-A", node="CAS3") == 1
    assert value(found, "castui_maintenance", site="Site-A", node="CAS2") == 0
    assert value(found, "castui_alerts_unacknowledged", site="Site-A") == 1
    driver.monitor.acknowledge(None)
    found = samples((await scrape(server)).text)
    assert value(found, "castui_alerts_unacknowledged", site="Site-A") == 0


HOSTILE_SITE = 'Site "A" \\ [bold red]<b onclick=x>&amp;'
HOSTILE_NODE = 'CAS"1\\n} x="y"'


async def test_hostile_names_from_the_config_and_the_network_stay_valid_exposition() -> None:
    toml = CONFIG.replace('name = "Site-A"', f"name = '{HOSTILE_SITE}'")
    toml = toml.replace('name = "CAS1"', f"name = '{HOSTILE_NODE}'")
    toml = toml.replace('profile = "exchange2010"', 'profile = "exchange2013"', 1)
    config = parse_config(toml, "hostile.toml")
    clock = FrozenClock()
    monitor = new_monitor(config, None, clock)
    driver = Driver(monitor, clock)
    # What the VIP's answers said in X-FEServer: newlines, quotes, backslashes, escapes, markup.
    from_network = 'evil"\n\\}\x1b[31m{le="+Inf"} 1\n# EOF<script>'
    driver.answering[HOSTILE_SITE] = {from_network: 3, HOSTILE_NODE: 1}
    async with metrics_server(MetricsOptions(LOOPBACK, 0), monitor) as server:
        driver.run(8)
        text = (await scrape(server)).text
    found = samples(text)
    assert value(found, "castui_node_in_pool", site=HOSTILE_SITE, node=HOSTILE_NODE) == 1
    shares = {s.labels["node"]: s.value for s in found if s.name == "castui_vip_answer_share"}
    assert shares[HOSTILE_NODE] == 0.25
    assert shares['evil" \\}{le="+Inf"} 1 # EOF<script>'] == 0.75
    assert "\x1b" not in text
    assert {s.name for s in found} <= set(CONTRACT)


async def test_the_endpoint_serves_metrics_only(deep: tuple[Driver, MetricsServer]) -> None:
    _, server = deep
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        assert (await client.get(server.url.replace("/metrics", "/"))).status_code == 404
        response = await client.post(server.url)
        assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
        head = await client.head(server.url)
        assert head.status_code == 200 and head.content == b""
    for request, status in ((b"garbage\r\n\r\n", b"400"),
                            (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
                             b"431")):
        reader, writer = await asyncio.open_connection(LOOPBACK, server.port)
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.split(b" ", 2)[1] == status


def token_file(tmp: Path) -> Path:
    path = tmp / "metrics.token"
    path.write_text("s3cret-token-for-the-metrics\n")
    path.chmod(0o600)
    return path


async def test_a_token_guards_the_metrics(tmp_path: Path) -> None:
    monitor = Monitor(parse_config(CONFIG, "t.toml"))
    options = MetricsOptions(LOOPBACK, 0, token_file=token_file(tmp_path))
    async with metrics_server(options, monitor) as server:
        refused_ = await scrape(server)
        assert refused_.status_code == 401
        assert refused_.headers["www-authenticate"].startswith("Bearer")
        assert "castui_" not in refused_.text
        wrong = await scrape(server, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        good = await scrape(server, headers={
            "Authorization": "Bearer s3cret-token-for-the-metrics"})
        assert good.status_code == 200
        assert "castui_build_info" in good.text


async def test_tls_serves_the_metrics_over_https(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert(LOOPBACK)
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    monitor = Monitor(parse_config(CONFIG, "t.toml"))
    options = MetricsOptions(LOOPBACK, 0, tls_cert=tmp_path / "cert.pem",
                             tls_key=tmp_path / "key.pem")
    async with metrics_server(options, monitor) as server:
        assert server.url.startswith("https://")
        trusted = ssl.create_default_context()
        ca.configure_trust(trusted)
        response = await scrape(server, verify=trusted)
        assert response.status_code == 200 and "castui_build_info" in response.text
        with pytest.raises(httpx.ConnectError):
            await scrape(server)  # a client that does not trust the CA does not get in


@pytest.mark.parametrize(("text", "expected"), [
    ("9781", ("127.0.0.1", 9781)), ("127.0.0.2:0", ("127.0.0.2", 0)),
    ("[::1]:9781", ("::1", 9781)), ("0.0.0.0:9781", ("0.0.0.0", 9781))])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", "host", ":9781", "1.2.3.4:99999", "[::1]", "::1:80"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(MetricsError, match="expected HOST:PORT"):
        parse_listen(text)


def test_off_loopback_needs_a_token_or_tls_unless_insecure(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "127.9.9.9", "::1", "localhost"):
        check_exposure(MetricsOptions(host, 9781))
    for host in ("0.0.0.0", "::", "10.0.0.5", "castui.corp.local"):
        with pytest.raises(MetricsError, match="not a loopback address"):
            check_exposure(MetricsOptions(host, 9781))
        check_exposure(MetricsOptions(host, 9781, token_file=tmp_path / "t"))
        check_exposure(MetricsOptions(host, 9781, tls_cert=tmp_path / "c",
                                      tls_key=tmp_path / "k"))
        check_exposure(MetricsOptions(host, 9781, insecure=True))
    with pytest.raises(MetricsError, match="go together"):
        check_exposure(MetricsOptions("0.0.0.0", 9781, tls_cert=tmp_path / "c"))


async def castui(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "castui", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@pytest.mark.parametrize(("extra", "message"), [
    (["--metrics-listen", "0.0.0.0:0"],
     "castui: --metrics-listen 0.0.0.0 is not a loopback address: give --metrics-token-file "
     "or --metrics-tls-cert/--metrics-tls-key, or --metrics-insecure to let anyone who can "
     "reach it read the estate"),
    (["--metrics-token-file", "x"], "castui: --metrics-token-file needs --metrics-listen"),
    (["--metrics-listen", "0.0.0.0:0", "--metrics-token-file", "/nonexistent/token"],
     "castui: --metrics-token-file: token file /nonexistent/token: file not found"),
])
async def test_watch_refuses_unsafe_or_broken_metrics_options_in_one_line(
        tmp_path: Path, extra: list[str], message: str) -> None:
    config = tmp_path / "estate.toml"
    config.write_text(CONFIG)
    code, err = await castui("watch", "--config", str(config), "--db",
                             str(tmp_path / "h.sqlite3"), *extra)
    assert (code, err.splitlines()) == (2, [message])


def test_the_console_serves_metrics_beside_it(tmp_path: Path) -> None:
    """`castui --config FILE --metrics-listen ADDR` in a pseudo-terminal: the same endpoint
    while the console runs, gone when it ends."""
    config = tmp_path / "estate.toml"
    config.write_text(CONFIG)  # loopback addresses where nothing listens: all refused
    port = free_port(LOOPBACK)
    url = f"http://{LOOPBACK}:{port}/metrics"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "castui", "--config", str(config), "--db",
         str(tmp_path / "history.sqlite3"), "--metrics-listen", f"{LOOPBACK}:{port}"],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color"})
    os.close(slave)
    drain = threading.Thread(target=_drain, args=(master,), daemon=True)
    drain.start()
    try:
        def node_down() -> bool:
            try:
                text = httpx.get(url, timeout=2, trust_env=False).text
            except httpx.HTTPError:
                return False
            return 'castui_node_in_pool{node="CAS1",site="Site-A"} 0.0' in text
        wait_for_sync(node_down, 30, interval=0.2, what="the console's metrics to show CAS1 out")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
            drain.join(5)
    assert code == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2, trust_env=False)


def _drain(fd: int) -> None:
    """Read the console's screen so it never blocks writing it."""
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass


@pytest.mark.integration
async def test_a_hostile_server_name_from_the_network_stays_data(tmp_path: Path,
                                                                 lab_ca: LabCA) -> None:
    """The lab's nodes (real HTTPS servers on loopback) answer the VIP's samples with an
    X-FEServer full of quotes, backslashes, braces, markup and escapes: the series keeps it as
    a label value, cleaned, and the exposition still parses."""
    hostile = 'CAS" \\} x{le="1"} [red]<b>\x1b[31m'
    async with watched_lab(tmp_path, lab_ca, sites=("Site-A",), timing=STEADY_2013,
                           profile="exchange2013") as lab:
        for node in lab.estate.sites["Site-A"].nodes.values():
            node.http.fe_server = hostile
        async with metrics_server(MetricsOptions(LOOPBACK, 0), lab.monitor) as server:
            found: list[Sample] = []

            async def names_it() -> bool:
                found[:] = samples((await scrape(server)).text)
                return any(s.name == "castui_vip_answer_share" and s.value > 0
                           and s.labels["node"].startswith("CAS")
                           and s.labels["node"] not in ("CAS1", "CAS2", "CAS3")
                           for s in found)

            await wait_for(names_it, 20, interval=0.5, what="a share for the hostile name")
    share = next(s for s in found if s.name == "castui_vip_answer_share"
                 and s.labels["node"] not in ("CAS1", "CAS2", "CAS3"))
    assert share.labels == {"site": "Site-A", "node": 'CAS" \\} x{le="1"} [red]<b>'}
    assert share.value == 1.0


async def test_watch_says_in_one_line_when_the_metrics_port_is_taken(tmp_path: Path) -> None:
    config = tmp_path / "estate.toml"
    config.write_text(CONFIG)
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = await castui("watch", "--config", str(config), "--db",
                                 str(tmp_path / "h.sqlite3"), "--metrics-listen",
                                 f"{LOOPBACK}:{port}")
    assert (code, err.splitlines()) == (
        2, [f"castui: cannot serve metrics on {LOOPBACK}:{port}: address already in use"])
