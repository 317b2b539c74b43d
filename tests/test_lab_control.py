"""The lab's control API: status, actions, and refusals that change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from castui.lab.actions import Action
from castui.lab.certs import LabCA
from castui.lab.control import (
    MAX_BODY_BYTES,
    ActionRejected,
    ControlAddress,
    ControlError,
    ControlServer,
    fetch_status,
    parse_control_address,
    send_action,
)
from castui.lab.estate import LabEstate
from castui.lab.layout import LabError
from tests.support.lab import lab_net, running_lab


@dataclass
class Control:
    estate: LabEstate
    server: ControlServer
    http: httpx.AsyncClient
    heard: list[Action] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.address.url

    async def act(self, text: str) -> httpx.Response:
        return await self.http.post(f"{self.url}/action", json={"action": text})


@pytest.fixture
async def control(lab_ca: LabCA) -> AsyncIterator[Control]:
    async with running_lab(lab_ca) as estate:
        heard: list[Action] = []
        server = ControlServer(estate, ControlAddress(f"{lab_net()}.0.1", 0),
                               on_action=heard.append)
        await server.start()
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
                yield Control(estate, server, http, heard)
        finally:
            await server.stop()


async def test_status_describes_every_node_vip_and_name(control: Control) -> None:
    answer = await control.http.get(f"{control.url}/status")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    doc = answer.json()
    assert doc == control.estate.status()
    site_a = doc["sites"][0]
    assert site_a["name"] == "Site-A" and site_a["vip_up"] is True
    assert site_a["dns_answer"] == [site_a["vip"]] and site_a["points_to"] == "Site-A"
    assert [(n["name"], n["state"], n["balancer"]) for n in site_a["nodes"]] == [
        ("CAS1", "ok", "UP"), ("CAS2", "ok", "UP"), ("CAS3", "ok", "UP")]


async def test_an_action_is_applied_and_reported(control: Control) -> None:
    answer = await control.act("crash site-a/cas2")
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "applied": "crash Site-A/CAS2"}
    assert control.estate.sites["Site-A"].nodes["CAS2"].state == "crashed"
    assert [str(action) for action in control.heard] == ["crash Site-A/CAS2"]


@pytest.mark.parametrize(("text", "message"), [
    ("crash Site-A/CAS7", "no node 'CAS7' in Site-A (nodes: CAS1, CAS2, CAS3)"),
    ("vip-down Site-Q", "no site 'Site-Q' in the lab (sites: Site-A, Site-B)"),
    ("reboot Site-A/CAS1", "unknown action 'reboot'"),
    ("crash", "crash takes 1 argument, got 0"),
    ("fail Site-A/CAS1 nope", "unknown virtual directory 'nope'"),
    ("", "empty action"),
])
async def test_bad_actions_are_refused_and_change_nothing(control: Control, text: str,
                                                          message: str) -> None:
    before = control.estate.status()
    answer = await control.act(text)
    assert answer.status_code == 400
    doc = answer.json()
    assert doc["ok"] is False and message in doc["error"] and "\n" not in doc["error"]
    assert control.estate.status() == before
    assert control.heard == []


async def test_requests_that_are_not_the_api(control: Control) -> None:
    http, url = control.http, control.url
    cases = [
        (await http.get(f"{url}/action"), 405, "use POST"),
        (await http.post(f"{url}/status"), 405, "use GET"),
        (await http.get(f"{url}/"), 404, "no such endpoint"),
        (await http.post(f"{url}/action", content=b"crash Site-A/CAS1"), 415, "application/json"),
        (await http.post(f"{url}/action", content=b"{", headers={
            "Content-Type": "application/json"}), 400, "not JSON"),
        (await http.post(f"{url}/action", json=["crash Site-A/CAS1"]), 400, '{"action"'),
        (await http.post(f"{url}/action", json={"action": "x" * MAX_BODY_BYTES}), 413,
         "larger than"),
        (await http.get(f"{url}/status", headers={"Host": "attacker.example"}), 403, "Host"),
        (await http.get(f"{url}/status", headers={"X-Big": "a" * 9000}), 431, "too large"),
    ]
    for answer, status, text in cases:
        error = answer.json().get("error", "")
        assert (answer.status_code, text in error) == (status, True), answer.text[:300]
    assert cases[0][0].headers["allow"] == "POST"
    assert control.estate.sites["Site-A"].nodes["CAS1"].state == "ok"


async def test_garbage_gets_an_answer_and_a_closed_connection(control: Control) -> None:
    address = control.server.address
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(b"\x16\x03\x01 not http at all\r\n\r\n")
    reply = await asyncio.wait_for(reader.read(), 5)
    assert reply.startswith(b"HTTP/1.1 400 ")
    writer.close()


async def test_the_command_line_client(control: Control) -> None:
    address = control.server.address
    assert await asyncio.to_thread(send_action, address, "drain Site-B/CAS4") == \
        "drain Site-B/CAS4"
    with pytest.raises(ActionRejected, match="no node 'CAS1' in Site-B"):
        await asyncio.to_thread(send_action, address, "drain Site-B/CAS1")
    doc = await asyncio.to_thread(fetch_status, address)
    assert doc["sites"][1]["nodes"][0]["drained"] is True


async def test_the_client_says_when_no_lab_answers() -> None:
    with pytest.raises(ControlError, match="no lab control API on"):
        await asyncio.to_thread(fetch_status, ControlAddress(f"{lab_net()}.0.9", 9))


async def test_a_taken_control_address_is_a_one_line_error(control: Control) -> None:
    second = ControlServer(control.estate, control.server.address)
    with pytest.raises(LabError, match="cannot start the control API on") as caught:
        await second.start()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("127.42.0.1:20099", ControlAddress("127.42.0.1", 20099)),
    ("127.0.0.1", ControlAddress("127.0.0.1", 20099)),
    ("30000", ControlAddress("127.42.0.1", 30000)),
    ("[::1]:30000", ControlAddress("::1", 30000)),
])
def test_control_addresses(text: str, expected: ControlAddress) -> None:
    assert parse_control_address(text, "127.42.0.1") == expected


@pytest.mark.parametrize("text", ["0.0.0.0:20099", "192.168.1.5", "lab.example:80",
                                  "127.0.0.1:99999", "[::1"])
def test_control_addresses_off_loopback_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(LabError):
        parse_control_address(text, "127.42.0.1")
