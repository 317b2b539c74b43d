"""The HTTP side of a lab CAS node: what IIS + Exchange answer to an unauthenticated client.

Parsing and framing are h11's; this module only decides the answer and injects the faults a
node is told to show (a dead virtual directory, a slow server, a hostile `X-FEServer`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import quote

import h11

from castui.config.model import Profile
from castui.model.exchange import COMPONENTS, SERVER_WIDE_OFFLINE

log = logging.getLogger(__name__)

#: Bounds that keep one client from holding memory or a connection forever.
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
IDLE_TIMEOUT = 60.0
READ_CHUNK = 16 * 1024

#: Every name `fail()` accepts (vdir names and castui check names), to the vdir it kills.
VDIR_ALIASES: dict[str, str] = {
    "owa": "owa",
    "ecp": "ecp",
    "ews": "ews",
    "autodiscover": "autodiscover",
    "rpc": "rpc",
    "oab": "oab",
    "eas": "microsoft-server-activesync",
    "microsoft-server-activesync": "microsoft-server-activesync",
    "mapi": "mapi",
    "mapihttp": "mapi",
    "powershell": "powershell",
}

#: The server component whose state takes each vdir's healthcheck page out of service.
VDIR_COMPONENT: dict[str, str] = {
    "owa": "OwaProxy",
    "ecp": "EcpProxy",
    "ews": "EwsProxy",
    "autodiscover": "AutoDiscoverProxy",
    "rpc": "RpcProxy",
    "oab": "OabProxy",
    "microsoft-server-activesync": "ActiveSyncProxy",
    "mapi": "MapiProxy",
    "powershell": "RpsProxy",
}

#: Virtual directories that answer 401 (Windows authentication) to an anonymous client.
_AUTH_VDIRS: dict[Profile, frozenset[str]] = {
    "exchange2010": frozenset({"ews", "autodiscover", "rpc", "oab",
                               "microsoft-server-activesync"}),
    "exchange2013": frozenset({"ews", "autodiscover", "rpc", "oab",
                               "microsoft-server-activesync", "mapi", "powershell"}),
    "exchange2016": frozenset({"ews", "autodiscover", "rpc", "oab",
                               "microsoft-server-activesync", "mapi", "powershell"}),
}
#: Profiles whose vdirs have Managed Availability's `/<vdir>/healthcheck.htm`.
_HEALTHCHECK_PROFILES = frozenset({"exchange2013", "exchange2016"})

_HEALTHCHECK_VDIRS = frozenset(VDIR_ALIASES.values())

_SERVER_HEADER: dict[Profile, str] = {
    "exchange2010": "Microsoft-IIS/7.5",
    "exchange2013": "Microsoft-IIS/8.5",
    "exchange2016": "Microsoft-IIS/10.0",
}

_SAFE_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$")

_LOGON_PAGE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{title}</title>
</head>
<body class="signInBg">
<form action="/owa/auth.owa" method="POST" name="logonForm" \
ENCTYPE="application/x-www-form-urlencoded" autocomplete="off">
<input type="hidden" name="destination" value="https://{host}/owa/">
<input type="hidden" name="flags" value="4">
<input type="hidden" name="forcedownlevel" value="0">
<label for="username">Domain\\user name:</label>
<input id="username" name="username" type="text" class="txt">
<label for="password">Password:</label>
<input id="password" name="password" type="password" class="txt" onfocus="g_fFcs=0">
<input type="submit" class="btn" value="Sign in">
</form>
</body>
</html>
"""

_ERROR_PAGE = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" \
"http://www.w3.org/TR/html4/strict.dtd">
<HTML><HEAD><TITLE>{reason}</TITLE>
<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>
<BODY><h2>{reason}</h2>
<hr><p>HTTP Error {status}. {text}</p>
</BODY></HTML>
"""

_ERROR_TEXT: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "The request is badly formed."),
    401: ("Unauthorized", "Access is denied due to invalid credentials."),
    404: ("Not Found", "The requested resource is not found."),
    413: ("Request Entity Too Large", "The request is too large."),
    431: ("Request Header Too Long", "The size of the request headers is too long."),
    503: ("Service Unavailable", "The service is unavailable."),
}


def canonical_component(name: str) -> str:
    """A server component's name in Exchange's spelling (case-insensitive); ValueError if
    castui does not know it."""
    found = next((c for c in COMPONENTS if c.lower() == name.strip().lower()), None)
    if found is None:
        raise ValueError(f"unknown server component {name!r} (known: {', '.join(COMPONENTS)})")
    return found


def canonical_vdir(name: str) -> str:
    """The vdir a vdir name or check name stands for (case-insensitive); ValueError if none."""
    vdir = VDIR_ALIASES.get(name.strip().strip("/").lower())
    if vdir is None:
        known = ", ".join(sorted(VDIR_ALIASES))
        raise ValueError(f"unknown virtual directory {name!r} (known: {known})")
    return vdir


@dataclass(slots=True)
class HttpBehaviour:
    """What a node's IIS answers right now; the node mutates it to inject faults."""

    name: str
    profile: Profile
    host: str
    https_port: int = 443
    failed_vdirs: set[str] = field(default_factory=set)
    delay_ms: int = 0
    #: Replaces the node name in X-FEServer, X-DiagInfo and the healthcheck body (hostile tests).
    fe_server: str | None = None
    #: Server components not Active (Set-ServerComponentState): name -> Inactive or Draining.
    components: dict[str, str] = field(default_factory=dict)

    @property
    def server_name(self) -> str:
        return self.name if self.fe_server is None else self.fe_server

    def in_service(self, vdir: str) -> bool:
        """Whether Managed Availability serves `vdir`'s healthcheck page: its component and
        ServerWideOffline both Active (Draining is for transport, not for HTTP)."""
        offline = {name for name, state in self.components.items() if state == "Inactive"}
        return SERVER_WIDE_OFFLINE not in offline and VDIR_COMPONENT.get(vdir) not in offline


@dataclass(frozen=True, slots=True)
class Answer:
    """One response, before framing."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def reason(self) -> bytes:
        known = _ERROR_TEXT.get(self.status)
        if known:
            return known[0].encode()
        return {200: b"OK", 302: b"Found"}.get(self.status, b"")


def _error(status: int, extra: list[tuple[str, str]] | None = None) -> Answer:
    reason, text = _ERROR_TEXT[status]
    body = _ERROR_PAGE.format(reason=reason, status=status, text=text).encode()
    headers = [("Content-Type", "text/html; charset=us-ascii"), *(extra or [])]
    return Answer(status, headers, body)


def _html(body: str) -> Answer:
    return Answer(200, [("Content-Type", "text/html; charset=utf-8"),
                        ("Cache-Control", "no-cache, no-store")], body.encode())


def _redirect(location: str) -> Answer:
    body = f'<head><title>Object moved</title></head><body><h1>Object Moved</h1>' \
           f'This object may be found <a HREF="{location}">here</a>.</body>'
    return Answer(302, [("Location", location), ("Content-Type", "text/html; charset=utf-8"),
                        ("Cache-Control", "no-cache")], body.encode())


def _to_logon(host: str, back_to: str) -> Answer:
    url = quote(f"https://{host}{back_to}", safe="").lower()
    return _redirect(f"https://{host}/owa/auth/logon.aspx?url={url}&reason=0")


def route(behaviour: HttpBehaviour, target: bytes, host_header: str | None, *,
          tls: bool) -> Answer:
    """The answer IIS would give to an anonymous request for `target`."""
    path = target.split(b"?", 1)[0].decode("latin-1")
    lower = path.lower()
    vdir = lower.strip("/").split("/", 1)[0]
    host = host_header if host_header and _SAFE_HOST.match(host_header) else behaviour.host
    if vdir in behaviour.failed_vdirs:
        return _error(503)
    if not tls:
        hostname = re.sub(r":[0-9]+$", "", host)
        port = "" if behaviour.https_port == 443 else f":{behaviour.https_port}"
        return _redirect(f"https://{hostname}{port}{path}")
    if (behaviour.profile in _HEALTHCHECK_PROFILES and vdir in _HEALTHCHECK_VDIRS
            and lower == f"/{vdir}/healthcheck.htm"):
        if not behaviour.in_service(vdir):
            return _error(503)
        return _html(f"200 OK<br/>{behaviour.server_name}")
    if lower == "/" and behaviour.profile in _HEALTHCHECK_PROFILES:
        # Since 2013 CU6 the site root redirects to OWA: a balancer checking `/` sees 302.
        return _redirect(f"https://{host}/owa/")
    if vdir == "owa":
        if lower == "/owa/auth/logon.aspx":
            title = "Outlook Web App" if behaviour.profile == "exchange2010" else "Outlook"
            return _html(_LOGON_PAGE.format(title=title, host=host))
        return _to_logon(host, "/owa/")
    if vdir == "ecp":
        return _to_logon(host, "/ecp/")
    if vdir in _AUTH_VDIRS[behaviour.profile]:
        return _error(401, [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")])
    return _error(404)


def _common_headers(behaviour: HttpBehaviour) -> list[tuple[str, str]]:
    headers = [("Server", _SERVER_HEADER[behaviour.profile]),
               ("X-Powered-By", "ASP.NET"),
               ("Date", formatdate(usegmt=True))]
    if behaviour.profile in _HEALTHCHECK_PROFILES:
        headers += [("X-FEServer", behaviour.server_name), ("X-DiagInfo", behaviour.server_name)]
    if behaviour.profile == "exchange2016":  # every 2016+ server is also its own back end
        headers += [("X-BEServer", behaviour.server_name),
                    ("X-CalculatedBETarget", behaviour.host.lower())]
    return headers


class _Closed(Exception):
    """The peer closed the connection or went quiet; nothing left to answer."""


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    for _ in range(MAX_BODY_BYTES + MAX_HEADER_BYTES):  # each round reads at least one byte
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await asyncio.wait_for(reader.read(READ_CHUNK), IDLE_TIMEOUT)
        conn.receive_data(data)
    raise _Closed


async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, behaviour: HttpBehaviour,
                answer: Answer, *, head: bool, close: bool = False) -> None:
    headers = [*_common_headers(behaviour), *answer.headers,
               ("Content-Length", str(len(answer.body)))]
    if close:
        headers.append(("Connection", "close"))
    out = conn.send(h11.Response(status_code=answer.status, reason=answer.reason,
                                 headers=headers))
    if not head and answer.body:
        out = (out or b"") + (conn.send(h11.Data(data=answer.body)) or b"")
    out = (out or b"") + (conn.send(h11.EndOfMessage()) or b"")
    writer.write(out)
    await writer.drain()


async def _read_body(conn: h11.Connection, reader: asyncio.StreamReader) -> bool:
    """Drain the request body; False if it is larger than we accept."""
    size = 0
    while True:
        event = await _next_event(conn, reader)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_BODY_BYTES:
                return False
        elif isinstance(event, h11.EndOfMessage):
            return True
        else:
            raise _Closed


async def _serve(conn: h11.Connection, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, behaviour: HttpBehaviour, tls: bool) -> None:
    while True:
        try:
            request = await _next_event(conn, reader)
            if not isinstance(request, h11.Request):
                return
            body_ok = await _read_body(conn, reader)
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = exc.error_status_hint if exc.error_status_hint in _ERROR_TEXT else 400
                await _send(conn, writer, behaviour, _error(status), head=False, close=True)
            return
        head = request.method == b"HEAD"
        if not body_ok:
            await _send(conn, writer, behaviour, _error(413), head=head, close=True)
            return
        if behaviour.delay_ms:
            await asyncio.sleep(behaviour.delay_ms / 1000)
        host = next((value.decode("latin-1") for name, value in request.headers
                     if name == b"host"), None)
        answer = route(behaviour, request.target, host, tls=tls)
        await _send(conn, writer, behaviour, answer, head=head)
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
            return
        conn.start_next_cycle()


async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     behaviour: HttpBehaviour, *, tls: bool) -> None:
    """Answer HTTP/1.1 requests on one connection until the peer is done, then close it."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    try:
        await _serve(conn, reader, writer, behaviour, tls)
    except (_Closed, ConnectionError, TimeoutError, ssl.SSLError):
        pass  # the peer left or went quiet: routine for health checks
    except Exception:
        log.exception("lab node %s: HTTP handler failed", behaviour.name)
    finally:
        writer.close()
