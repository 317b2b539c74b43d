"""The lab's one action grammar.

A scenario step, a `castui lab ctl` command and a control API request are all parsed here, so
anything that works in a scenario file works from the command line, and the other way round.
Parsing checks the shape only; the estate resolves site and node names (`LabEstate.resolve`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from castui.lab.http import canonical_component, canonical_vdir
from castui.model.exchange import HUB_TRANSPORT, SERVER_WIDE_OFFLINE
from castui.model.text import clean

#: Longest action text accepted: an action is a verb and two or three short words.
MAX_ACTION_CHARS = 200
#: Largest `slow` delay: ten minutes is already "the server is hung".
MAX_SLOW_MS = 600_000

Scope = Literal["node", "site", "estate"]


@dataclass(frozen=True, slots=True)
class _Verb:
    scope: Scope
    arg: str | None
    help: str
    #: The argument may be left out (it then means `default`; "" means "every").
    optional: bool = False
    default: str = ""


#: Every action, in the order `--help` and error messages list them.
VERBS: dict[str, _Verb] = {
    "crash": _Verb("node", None, "the server is down: every port refuses connections"),
    "blackhole": _Verb("node", None, "the server vanished: connects hang until they time out"),
    "fail": _Verb("node", "VDIR", "half-dead: ports open, that virtual directory answers 503"),
    "slow": _Verb("node", "MS", "every HTTP answer is delayed by MS milliseconds"),
    "cert-mismatch": _Verb("node", None, "HTTPS serves a certificate for another name"),
    "drain": _Verb("node", None, "the site VIP sends the node no new connections"),
    "ready": _Verb("node", None, "undo drain"),
    "restore": _Verb("node", None, "undo every fault of the node, and drain"),
    "offline": _Verb("node", "COMPONENT", "Exchange maintenance: the server component (default "
                     f"{SERVER_WIDE_OFFLINE}: all) Inactive; its healthcheck pages answer 503",
                     optional=True, default=SERVER_WIDE_OFFLINE),
    "draining": _Verb("node", "COMPONENT", f"the server component (default {HUB_TRANSPORT}) "
                      "Draining, the first step of Exchange maintenance",
                      optional=True, default=HUB_TRANSPORT),
    "online": _Verb("node", "COMPONENT", "the server component (default: every one) Active",
                    optional=True),
    "vip-down": _Verb("site", None, "the site's VIP goes away (connections refused)"),
    "vip-up": _Verb("site", None, "the site's VIP comes back"),
    "switchover": _Verb("site", "TO_SITE", "point the site's array FQDN at TO_SITE's VIP"),
    "switchback": _Verb("site", None, "point the site's array FQDN back at its own VIP"),
    "reset": _Verb("estate", None, "everything healthy again: restore, vip-up, switchback"),
}


#: Verbs that set an Exchange server component's state (Exchange 2013 and later).
COMPONENT_VERBS = frozenset({"offline", "draining", "online"})


class ActionError(ValueError):
    """An action that cannot be parsed or applied; the message is one line."""


@dataclass(frozen=True, slots=True)
class Action:
    """One parsed action. `node` is set for node actions; `arg` is the VDIR, MS or TO_SITE."""

    verb: str
    site: str = ""
    node: str = ""
    arg: str = ""

    @property
    def scope(self) -> Scope:
        return VERBS[self.verb].scope

    def __str__(self) -> str:
        target = {"node": f"{self.site}/{self.node}", "site": self.site, "estate": ""}
        return " ".join(part for part in (self.verb, target[self.scope], self.arg) if part)


def usage(verb: str) -> str:
    """`fail SITE/NODE VDIR`: how an action is written."""
    spec = VERBS[verb]
    target = {"node": "SITE/NODE", "site": "SITE", "estate": ""}[spec.scope]
    arg = f"[{spec.arg}]" if spec.optional else spec.arg or ""
    return " ".join(part for part in (verb, target, arg) if part)


def grammar() -> list[tuple[str, str]]:
    """(usage, help) for every action, for help texts and the README."""
    return [(usage(verb), spec.help) for verb, spec in VERBS.items()]


def _quote(text: str) -> str:
    return repr(clean(text, 60))


def _name(text: str, what: str) -> str:
    """A site or node name as typed: printable, no spaces (split already), no slash."""
    if not text or clean(text, 100) != text or "/" in text:
        raise ActionError(f"bad {what} name {_quote(text)}")
    return text


def _node_target(text: str, verb: str) -> tuple[str, str]:
    site, slash, node = text.partition("/")
    if not slash or not site or not node:
        raise ActionError(f"{verb} needs SITE/NODE, e.g. Site-A/CAS2, not {_quote(text)} "
                          f"(usage: {usage(verb)})")
    return _name(site, "site"), _name(node, "node")


def _milliseconds(text: str) -> str:
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_SLOW_MS:
        raise ActionError(f"slow needs a delay of 0-{MAX_SLOW_MS} milliseconds, "
                          f"not {_quote(text)}")
    return str(int(text))


def parse_action(text: str) -> Action:
    """Parse one action (`crash Site-A/CAS2`); ActionError with a one-line reason if it is bad."""
    if len(text) > MAX_ACTION_CHARS:
        raise ActionError(f"action longer than {MAX_ACTION_CHARS} characters")
    words = text.split()
    if not words:
        raise ActionError("empty action")
    verb = words[0].lower()
    spec = VERBS.get(verb)
    if spec is None:
        close = difflib.get_close_matches(verb, list(VERBS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(VERBS)}"
        raise ActionError(f"unknown action {_quote(words[0])} ({hint})")
    wanted = {"node": 1, "site": 1, "estate": 0}[spec.scope] + (spec.arg is not None)
    if spec.optional and len(words) - 1 == wanted - 1:
        words.append(spec.default)
    if len(words) - 1 != wanted:
        raise ActionError(f"{verb} takes {wanted} argument{'s' if wanted != 1 else ''}, "
                          f"got {len(words) - 1} (usage: {usage(verb)})")
    site = node = arg = ""
    if spec.scope == "node":
        site, node = _node_target(words[1], verb)
    elif spec.scope == "site":
        site = _name(words[1], "site")
    if spec.arg == "VDIR":
        try:
            arg = canonical_vdir(words[2])
        except ValueError as exc:
            raise ActionError(str(exc)) from None
    elif spec.arg == "COMPONENT" and words[2]:
        try:
            arg = canonical_component(words[2])
        except ValueError as exc:
            raise ActionError(str(exc)) from None
    elif spec.arg == "MS":
        arg = _milliseconds(words[2])
    elif spec.arg == "TO_SITE":
        arg = _name(words[2], "site")
    return Action(verb, site, node, arg)
