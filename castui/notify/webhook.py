"""POST each alert as JSON to a webhook, with a per-attempt deadline and a short bounded retry.

The URL may carry a secret token (Slack-style hooks). Nothing here formats the URL, and never
the text of an httpx exception (it can contain the URL): reasons are built from HTTP status
codes and exception class names only, and httpx's own request log line shows the notifier's
name in place of its URL.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import httpx

from castui import __version__
from castui.config.model import Notifier
from castui.model.text import clean

#: Pause before the first retry; it doubles for each further retry, up to BACKOFF_CAP.
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 5.0
#: Response bytes read (then ignored), so that a short answer leaves the connection reusable.
RESPONSE_READ_LIMIT = 64 * 1024
#: Client errors that may go away by themselves; any other 4xx (bad token, revoked hook...) will
#: not, so it is reported at once instead of being retried.
RETRY_STATUSES = frozenset({408, 425, 429})
#: OpenSSL's codes for a certificate that does not cover the URL's host (the message names it).
_NAME_MISMATCH = frozenset({62, 64})  # host name, IP address

Deliver = Callable[[bytes], Awaitable[str | None]]


@asynccontextmanager
async def webhook_sender(notifier: Notifier) -> AsyncIterator[Deliver]:
    """A deliver function with its own HTTP client, closed (sockets too) when the block exits."""
    assert notifier.url is not None
    hide = _HideUrl(httpx.URL(notifier.url), f"<webhook {notifier.name}>")
    httpx_log = logging.getLogger("httpx")
    httpx_log.addFilter(hide)
    try:
        async with httpx.AsyncClient(timeout=notifier.timeout, follow_redirects=False,
                                     verify=_verify(notifier),
                                     headers={"User-Agent": f"castui/{__version__}"}) as client:
            yield partial(post_alert, client, notifier)
    finally:
        httpx_log.removeFilter(hide)


async def post_alert(client: httpx.AsyncClient, notifier: Notifier, body: bytes) -> str | None:
    """POST `body` up to 1 + retries times; None once a 2xx answer came, else a safe reason."""
    assert notifier.url is not None
    delay = BACKOFF_FIRST
    failure: str | None = None
    attempt = 0
    for attempt in range(1, notifier.retries + 2):
        if attempt > 1:
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_CAP)
        failure, retry = await _attempt(client, notifier.url, body, notifier.timeout)
        if failure is None:
            return None
        if not retry:
            break
    return f"{failure} after {attempt} attempt{'s' if attempt != 1 else ''}"


async def _attempt(client: httpx.AsyncClient, url: str, body: bytes,
                   timeout: float) -> tuple[str | None, bool]:
    """One POST: (None, _) on success, else (safe reason, whether a retry may help)."""
    try:
        async with asyncio.timeout(timeout):  # the whole attempt, not each socket operation
            async with client.stream("POST", url, content=body,
                                     headers={"Content-Type": "application/json"}) as response:
                await _drain(response)
                status = response.status_code
    except (TimeoutError, httpx.TimeoutException):
        return f"timed out (limit {timeout:g} s)", True
    except httpx.ConnectError as exc:
        refused = _certificate_problem(exc)
        if refused is not None:  # retrying will not make the certificate trusted
            return refused, False
        return f"connect failed ({type(exc).__name__})", True
    except httpx.UnsupportedProtocol as exc:
        return f"unsupported URL scheme ({type(exc).__name__})", False
    except httpx.TransportError as exc:
        return f"request failed ({type(exc).__name__})", True
    except httpx.InvalidURL as exc:
        return f"invalid URL ({type(exc).__name__})", False
    if 200 <= status < 300:
        return None, False
    if 300 <= status < 400:
        return f"HTTP {status} (redirects are not followed)", False
    return f"HTTP {status}", status >= 500 or status in RETRY_STATUSES


def _verify(notifier: Notifier) -> ssl.SSLContext | bool:
    """The notifier's CA bundle (checked when the config was loaded), or httpx's default."""
    if notifier.ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(notifier.ca_file))


def _certificate_problem(exc: BaseException) -> str | None:
    """Why the webhook's certificate was refused, if it was; never the URL or its host."""
    seen: BaseException | None = exc
    for _ in range(8):  # httpx -> httpcore -> ssl: a short chain
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            if seen.verify_code in _NAME_MISMATCH:
                return "certificate verify failed: it does not cover the URL's host name"
            return (f"certificate verify failed: {clean(seen.verify_message, 80)} (a private "
                    "CA goes in the notifier's ca_file)")
        seen = seen.__cause__ or seen.__context__
    return None


async def _drain(response: httpx.Response) -> None:
    """Read a bounded amount of the answer; a longer one just costs its connection."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen > RESPONSE_READ_LIMIT:
            return


class _HideUrl(logging.Filter):
    """Replace the webhook's URL in httpx's own log lines ("HTTP Request: POST <url> ...")."""

    def __init__(self, url: httpx.URL, label: str) -> None:
        super().__init__()
        self._url = url
        self._label = label

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._label if isinstance(arg, httpx.URL) and arg == self._url
                                else arg for arg in record.args)
        return True
