"""Converters for what names a place on the network: IP addresses, DNS names, resolvers, URLs,
and the closed sets of words a config chooses from (profiles, checks, notifier types)."""

from __future__ import annotations

import ipaddress
import re

from castui.config.model import NOTIFIER_TYPES, PROFILES, DnsServer, NotifierType, Profile
from castui.config.ranges import PORT
from castui.config.reader import Invalid, choice, quote, string, unknown
from castui.model.exchange import ALL_CHECK_NAMES

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


def ip(value: object) -> str:
    text = string(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise Invalid(f"{quote(text)} is not an IP address") from None


def dns_name(value: object) -> str:
    """A fully qualified host name (RFC 1123 labels); a trailing dot is accepted and dropped."""
    text = string(value)
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if _is_ip(name):
        problem = "is an IP address, not a DNS name"
    elif len(name) > 253:
        problem = "is longer than 253 characters"
    elif len(labels) < 2:
        problem = "is not fully qualified (needs a dot, e.g. outlook.corp.local)"
    elif any(not label for label in labels):
        problem = "has an empty label"
    elif any(len(label) > 63 for label in labels):
        problem = "has a label longer than 63 characters"
    elif not all(_LABEL.fullmatch(label) for label in labels):
        problem = "may only use letters, digits and inner hyphens in each label"
    elif labels[-1].isdigit():
        problem = "has an all-numeric last label"
    else:
        return name
    raise Invalid(f"{quote(text)} {problem}")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def dns_server(value: object) -> DnsServer:
    """`host`, `host:port` or `[v6]:port`; castui asks this resolver directly, so host is an IP."""
    text = string(value)
    host, port_text = text, None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise Invalid(f"{quote(text)} is not [address]:port")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:  # IPv4 with a port; bare IPv6 has several colons
        host, _, port_text = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise Invalid(f"{quote(host)} is not an IP address "
                      "(castui asks the resolver directly; give its address)") from None
    if port_text is None:
        return DnsServer(str(address))
    if not (port_text.isascii() and port_text.isdigit()):
        raise Invalid(f"port {quote(port_text)} in {quote(text)} is not a number")
    port = int(port_text) if len(port_text) <= 6 else None  # int() of 5,000 digits raises
    if port is None or not PORT.holds(port):
        digits = port_text if len(port_text) <= 20 else port_text[:20] + "…"
        raise Invalid(f"port {digits} in {quote(text)} must be {PORT.words()}")
    return DnsServer(str(address), port)


def http_url(value: object) -> str:
    """`http(s)://host:port` of a node's agent, without a trailing slash."""
    text = string(value)
    if not re.fullmatch(r"https?://[^\s/?#]+(:\d{1,5})?/?", text):
        raise Invalid(f"{quote(text)} is not an http(s)://host:port URL")
    return text.rstrip("/")


def webhook_url(value: object) -> str:
    """An http(s) URL with a host; its path and query may hold a token, so it is not echoed."""
    text = string(value)
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", text):
        raise Invalid("is not an http(s):// URL")
    return text


def profile(value: object) -> Profile:
    return choice(value, PROFILES, "profile", "expected one of")


def notifier_type(value: object) -> NotifierType:
    return choice(value, NOTIFIER_TYPES, "notifier type", "supported")


def check_name(value: object) -> str:
    text = string(value)
    if text not in ALL_CHECK_NAMES:
        raise Invalid(unknown("check", text, ALL_CHECK_NAMES, "known checks"))
    return text
