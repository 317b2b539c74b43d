"""`[[notifiers]]`: bell, command hook or webhook, each with a unique name."""

from __future__ import annotations

from castui.config.files import ca_bundle
from castui.config.model import Notifier
from castui.config.names import notifier_type, webhook_url
from castui.config.ranges import integer, number
from castui.config.reader import Reader, name, string

_NOTIFIER_KEYS = ("type", "name", "command", "url", "timeout", "retries", "ca_file")
_DEFAULT = Notifier(type="bell", name="")


def read_notifiers(reader: Reader, raw: dict[str, object]) -> list[Notifier]:
    out: list[Notifier] = []
    seen: dict[str, str] = {}
    for index, (path, table) in enumerate(reader.tables(raw, "", "notifiers", "[[notifiers]]")
                                          or []):
        reader.check_keys(table, path, _NOTIFIER_KEYS)
        kind = reader.get(table, path, "type", notifier_type, required=True)
        label = reader.get_or(table, path, "name", name, f"{kind or 'notifier'} {index + 1}")
        reader.claim(seen, label, f"{path}.name", "notifier")
        command = reader.items(table, path, "command", string)
        url = reader.get(table, path, "url", webhook_url)
        if kind == "command" and not command:
            reader.report(f"{path}.command", "a command notifier needs a non-empty command "
                          "array, e.g. [\"/usr/local/bin/page\", \"--team\", \"exchange\"]")
        if kind == "webhook" and "url" not in table:
            reader.report(f"{path}.url", "required key is missing")
        ca_file = reader.get(table, path, "ca_file", ca_bundle(reader.base_dir))
        for key, wanted in (("command", "command"), ("url", "webhook"), ("ca_file", "webhook")):
            if key in table and kind is not None and kind != wanted:
                reader.report(f"{path}.{key}", f"only a {wanted} notifier takes {key}")
        timeout = reader.get_or(table, path, "timeout", number("notifiers[].timeout"),
                                _DEFAULT.timeout)
        retries = reader.get_or(table, path, "retries", integer("notifiers[].retries"),
                                _DEFAULT.retries)
        if kind is not None:
            out.append(Notifier(type=kind, name=label, command=tuple(command or ()), url=url,
                                timeout=timeout, retries=retries, ca_file=ca_file))
    return out
