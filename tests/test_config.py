"""The config loader: the example estate loads, and every kind of mistake is one precise line."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path

import pytest
import trustme

from castui.config import (
    ConfigError,
    Defaults,
    DnsServer,
    Notifier,
    Ports,
    load_config,
    parse_config,
)
from castui.config.model import Balancer
from castui.config.ranges import RANGES, Range, integer
from castui.config.ranges import number as number_in
from castui.history import EventStore
from castui.lab.certs import LabCA

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "two-sites.toml"
SOURCE = "site.toml"


def minimal(*, top: str = "", defaults: str = "", site_name: str = '"Site-A"',
            vip: str = '"10.1.0.50"', array_fqdn: str = '"outlook.site-a.corp.local"',
            site: str = "", node_name: str = '"CAS1"', address: str = '"10.1.0.21"',
            node: str = "", tail: str = "") -> str:
    """A valid one-site, one-node config with one spot changed; line numbers are stable."""
    return f"""{top}
[defaults]
{defaults}

[[sites]]
name = {site_name}
array_fqdn = {array_fqdn}
vip = {vip}
{site}

[[sites.nodes]]
name = {node_name}
address = {address}
{node}
{tail}
"""


#: A `[[notifiers]]` table after the site; `{}` is its body.
NOTIFIER = "\n[[notifiers]]\n{}\n"

SECOND_SITE = """
[[sites]]
name = "Site-B"
array_fqdn = "outlook.site-b.corp.local"
vip = "10.2.0.50"
{site}

[[sites.nodes]]
name = "CAS-DR1"
address = "10.2.0.21"
"""


def problems_of(text: str, base_dir: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, SOURCE, base_dir=base_dir)
    return caught.value.problems


# --- the good example and defaults ----------------------------------------------------------


def test_example_loads_with_merged_ports() -> None:
    config = load_config(EXAMPLE)

    assert config.path == EXAMPLE
    assert [site.name for site in config.sites] == ["Site-A", "Site-B"]
    site_a, site_b = config.sites
    assert site_a.profile == "exchange2010"
    assert site_b.profile == "exchange2013"
    assert site_a.vip == "10.1.0.50"
    assert site_a.array_fqdn == "outlook.site-a.corp.local"
    assert site_a.dns_servers == (DnsServer("10.1.0.10"), DnsServer("10.1.0.11", 53))
    assert [node.name for node in site_a.nodes] == ["CAS1", "CAS2", "CAS3"]
    assert [node.name for node in site_b.nodes] == ["CAS-DR1", "CAS-DR2"]
    assert site_a.ports == Ports(epm=135, https=443, http=80, mapi=59531, ab=59532)
    cas1, _, cas3 = site_a.nodes
    assert cas1.ports == site_a.ports
    assert cas1.fqdn == "cas1.corp.local"
    # CAS3 overrides only `ab`; everything else comes from the site.
    assert cas3.ports == Ports(epm=135, https=443, http=80, mapi=59531, ab=59533)
    assert site_b.ports == Ports()
    assert all(node.ports == Ports() for node in site_b.nodes)
    assert config.defaults.pool_checks == ("epm", "https", "owa")


def test_example_parses_from_text_and_comments_every_key() -> None:
    text = EXAMPLE.read_text()
    assert parse_config(text, EXAMPLE.name).sites
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*[A-Za-z_]+\s*=", line):
            assert lines[number - 1].lstrip().startswith("#"), f"no comment above: {line}"


def test_defaults_apply_when_omitted() -> None:
    config = parse_config(minimal())

    assert config.defaults == Defaults()
    assert config.defaults.interval == 2.0
    assert config.defaults.timeout == 1.5
    assert (config.defaults.rise, config.defaults.fall) == (2, 3)
    assert config.defaults.pool_checks is None  # each site's profile decides
    (site,) = config.sites
    assert site.profile == "exchange2010"
    assert site.ports == Ports(epm=135, https=443, http=80, mapi=None, ab=None)
    assert site.dns_servers == ()
    assert site.nodes[0].fqdn is None
    assert config.path is None


def test_values_are_typed_and_normalised() -> None:
    config = parse_config(minimal(
        defaults="interval = 5\ntimeout = 2\ntls_verify = false\npool_checks = ['epm', 'ews']",
        vip='"FD00:0:0::50"',
        site='dns_servers = ["[fd00::53]:5353", "fd00::54", "10.1.0.10:5353"]',
        node="fqdn = 'cas1.corp.local.'\nports = { https = 8443 }",
    ))

    assert config.defaults.interval == 5.0
    assert isinstance(config.defaults.interval, float)
    assert config.defaults.tls_verify is False
    assert config.defaults.pool_checks == ("epm", "ews")
    site = config.sites[0]
    assert site.vip == "fd00::50"
    assert site.dns_servers == (DnsServer("fd00::53", 5353), DnsServer("fd00::54"),
                                DnsServer("10.1.0.10", 5353))
    assert site.nodes[0].fqdn == "cas1.corp.local"
    assert site.nodes[0].ports == Ports(https=8443)
    assert site.ports == Ports()


def test_relative_ca_file_is_resolved_next_to_the_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "certs").mkdir()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "certs" / "corp-ca.pem"))
    config_file = tmp_path / "site.toml"
    config_file.write_text(minimal(defaults='ca_file = "certs/corp-ca.pem"'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(config_file)

    assert config.defaults.ca_file == tmp_path / "certs" / "corp-ca.pem"
    assert config.path == config_file


def test_a_webhook_notifier_takes_its_own_ca_file_next_to_the_config(
        tmp_path: Path, lab_ca: LabCA) -> None:
    lab_ca.write_ca(tmp_path / "chat-ca.pem")
    config_file = tmp_path / "site.toml"
    config_file.write_text(minimal(tail=NOTIFIER.format(
        'type = "webhook"\nname = "ops-chat"\nurl = "https://chat.corp.local/hook"\n'
        'ca_file = "chat-ca.pem"') + NOTIFIER.format('type = "bell"')))

    config = load_config(config_file)

    webhook, bell = config.notifiers
    assert (webhook.name, webhook.ca_file) == ("ops-chat", tmp_path / "chat-ca.pem")
    assert (bell.type, bell.ca_file) == ("bell", None)


def test_only_a_webhook_notifier_takes_a_ca_file(tmp_path: Path, lab_ca: LabCA) -> None:
    lab_ca.write_ca(tmp_path / "chat-ca.pem")
    text = minimal(tail=NOTIFIER.format('type = "bell"\nca_file = "chat-ca.pem"'))

    problems = problems_of(text, base_dir=tmp_path)

    assert problems == [f"{SOURCE}: notifiers[0].ca_file: only a webhook notifier takes ca_file"]


def test_ca_file_that_is_not_pem_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    config_file = tmp_path / "site.toml"
    config_file.write_text(minimal(defaults='ca_file = "ca.pem"'))

    with pytest.raises(ConfigError) as caught:
        load_config(config_file)

    (problem,) = caught.value.problems
    assert problem.startswith(f"{config_file}: defaults.ca_file: ")
    assert "is not a PEM CA bundle" in problem


# --- malformed configs ----------------------------------------------------------------------

BAD_CONFIGS = [
    # TOML syntax: `defaults` starts on line 3 of minimal(), `node` is on line 14.
    ("syntax-missing-value", minimal(defaults="rise = 2\nfall = "), "line 4", "Invalid value"),
    ("syntax-duplicate-key", minimal(defaults="rise = 2\nrise = 3"), "line 4",
     "Cannot overwrite a value"),
    ("syntax-unterminated-string", minimal(node='fqdn = "cas1.corp.local'), "line 14",
     "Illegal character"),
    ("unknown-top-level-key", minimal(top="sitez = 1"), "top level",
     "unknown key 'sitez' (did you mean 'sites'?)"),
    ("unknown-top-level-no-match", minimal(top="colour = 'red'"), "top level",
     "unknown key 'colour' (known keys: defaults, exchange_export, notifiers, sites)"),
    ("unknown-key-in-defaults", minimal(defaults="intervall = 3.0"), "defaults",
     "unknown key 'intervall' (did you mean 'interval'?)"),
    ("unknown-key-in-site", minimal(site="dns = ['10.1.0.10']"), "sites[0]",
     "unknown key 'dns' (known keys: agent_token_file, array_fqdn, balancer_addresses,"),
    ("bad-service-name", minimal(site="service_names = ['mail.corp.local', 'owa']"),
     "sites[0].service_names[1]", "'owa' is not fully qualified"),
    ("bad-external-dns-server", minimal(site="external_dns_servers = ['dns.google']"),
     "sites[0].external_dns_servers[0]", "'dns.google' is not an IP address"),
    ("cert-warn-days-zero", minimal(defaults="cert_warn_days = 0"), "defaults.cert_warn_days",
     "must be between 1 and 3650, got 0"),
    ("dns-ttl-max-negative", minimal(defaults="dns_ttl_max = -5"), "defaults.dns_ttl_max",
     "must be between 0 and 604800, got -5"),
    ("agent-without-token", minimal(node='agent = "https://10.1.0.21:8799"'),
     "sites[0].nodes[0].agent", "needs agent_token_file, on the node or its site"),
    ("agent-not-a-url", minimal(node='agent = "10.1.0.21:8799"'),
     "sites[0].nodes[0].agent", "is not an http(s)://host:port URL"),
    ("agent-token-missing-file", minimal(node='agent_token_file = "/nonexistent/token"'),
     "sites[0].nodes[0].agent_token_file", "file not found"),
    ("lb-unknown-type", minimal(tail='[sites.lb]\ntype = "kemp"\nsocket = "/run/h.sock"'),
     "sites[0].lb.type", "unknown balancer type 'kemp'"),
    ("lb-no-source", minimal(tail='[sites.lb]\ntype = "haproxy"'),
     "sites[0].lb", "give stats_url, socket, or both"),
    ("lb-servers-unknown-node",
     minimal(tail='[sites.lb]\ntype = "haproxy"\nsocket = "/run/h.sock"\n'
                  '[sites.lb.servers]\nCAS9 = "cas9"'),
     "sites[0].lb.servers", "unknown node 'CAS9'"),
    ("skew-max-one", minimal(defaults="skew_max = 1"), "defaults.skew_max",
     "must be more than 1"),
    ("unknown-key-in-second-site", minimal(tail=SECOND_SITE.format(site="vipp = '1.2.3.4'")),
     "sites[1]", "unknown key 'vipp' (did you mean 'vip'?)"),
    ("unknown-key-in-node", minimal(node='adress = "10.1.0.22"'), "sites[0].nodes[0]",
     "unknown key 'adress' (did you mean 'address'?)"),
    ("unknown-key-in-site-ports", minimal(site="ports = { mapii = 59531 }"), "sites[0].ports",
     "unknown key 'mapii' (did you mean 'mapi'?)"),
    ("unknown-key-in-node-ports", minimal(node="ports = { htps = 443 }"),
     "sites[0].nodes[0].ports", "unknown key 'htps' (did you mean 'https'?)"),
    ("timeout-above-interval", minimal(defaults="interval = 1.0\ntimeout = 1.5"),
     "defaults.timeout", "must be less than interval (1), got 1.5"),
    ("timeout-equals-interval", minimal(defaults="interval = 2\ntimeout = 2.0"),
     "defaults.timeout", "must be less than interval (2), got 2"),
    ("interval-below-default-timeout", minimal(defaults="interval = 1"), "defaults.interval",
     "must be greater than timeout (default 1.5)"),
    ("interval-in-milliseconds", minimal(defaults="interval = 2000"), "defaults.interval",
     "not milliseconds"),
    ("interval-zero", minimal(defaults="interval = 0"), "defaults.interval",
     "must be between 0.1 and 300 seconds, got 0"),
    ("interval-nan", minimal(defaults="interval = nan"), "defaults.interval",
     "must be between 0.1 and 300 seconds, got nan"),
    ("rise-zero", minimal(defaults="rise = 0"), "defaults.rise",
     "must be between 1 and 100, got 0"),
    ("fall-negative", minimal(defaults="fall = -1"), "defaults.fall",
     "must be between 1 and 100, got -1"),
    ("bool-for-int", minimal(defaults="rise = true"), "defaults.rise",
     "expected an integer, got boolean true"),
    ("string-for-int", minimal(defaults="rise = 'two'"), "defaults.rise",
     "expected an integer, got string 'two'"),
    ("float-for-int", minimal(defaults="fall = 2.5"), "defaults.fall",
     "expected an integer, got float 2.5"),
    ("string-for-float", minimal(defaults='timeout = "1.5s"'), "defaults.timeout",
     "expected a number of seconds, got string '1.5s'"),
    ("string-for-bool", minimal(defaults='tls_verify = "no"'), "defaults.tls_verify",
     "expected true or false, got string 'no'"),
    ("max-concurrency-zero", minimal(defaults="max_concurrency = 0"),
     "defaults.max_concurrency", "must be between 1 and 10000, got 0"),
    ("max-concurrency-huge", minimal(defaults="max_concurrency = 10001"),
     "defaults.max_concurrency", "must be between 1 and 10000, got 10001"),
    ("retention-zero", minimal(defaults="retention_days = 0"), "defaults.retention_days",
     "must be between 1 and 3650, got 0"),
    ("pool-check-typo", minimal(defaults="pool_checks = ['epm', 'ows']"),
     "defaults.pool_checks[1]", "unknown check 'ows' (did you mean 'owa'?)"),
    ("pool-check-unknown", minimal(defaults="pool_checks = ['smtp']"),
     "defaults.pool_checks[0]", "unknown check 'smtp' (known checks: ab, autodiscover"),
    ("pool-checks-empty", minimal(defaults="pool_checks = []"), "defaults.pool_checks",
     "must name at least one check"),
    ("pool-checks-not-array", minimal(defaults="pool_checks = 'epm'"), "defaults.pool_checks",
     "expected an array, got string 'epm'"),
    ("ca-file-missing", minimal(defaults="ca_file = '/nonexistent/castui/corp-ca.pem'"),
     "defaults.ca_file", "file not found: '/nonexistent/castui/corp-ca.pem'"),
    ("defaults-not-table", minimal(top="defaults = 5").replace("[defaults]\n", ""), "defaults",
     "expected a table, got integer 5"),
    ("site-port-zero", minimal(site="ports = { https = 0 }"), "sites[0].ports.https",
     "must be between 1 and 65535, got 0"),
    ("node-port-too-big", minimal(node="ports = { mapi = 70000 }"),
     "sites[0].nodes[0].ports.mapi", "must be between 1 and 65535, got 70000"),
    ("port-as-string", minimal(site='ports = { ab = "59532" }'), "sites[0].ports.ab",
     "expected an integer, got string '59532'"),
    ("node-address-not-ip", minimal(address='"10.1.0.x"'), "sites[0].nodes[0].address",
     "'10.1.0.x' is not an IP address"),
    ("vip-not-ip", minimal(vip='"outlook.site-a.corp.local"'), "sites[0].vip",
     "'outlook.site-a.corp.local' is not an IP address"),
    ("vip-missing", minimal(vip='"x"').replace('vip = "x"\n', ""), "sites[0].vip",
     "required key is missing"),
    ("dns-server-name", minimal(site='dns_servers = ["10.1.0.10", "dc1.corp.local"]'),
     "sites[0].dns_servers[1]", "'dc1.corp.local' is not an IP address"),
    ("dns-server-port-range", minimal(site='dns_servers = ["10.1.0.10:99999"]'),
     "sites[0].dns_servers[0]", "port 99999 in '10.1.0.10:99999' must be between 1 and 65535"),
    ("dns-server-port-text", minimal(site='dns_servers = ["10.1.0.10:dns"]'),
     "sites[0].dns_servers[0]", "port 'dns' in '10.1.0.10:dns' is not a number"),
    ("dns-server-bad-brackets", minimal(site='dns_servers = ["[fd00::53]53"]'),
     "sites[0].dns_servers[0]", "is not [address]:port"),
    ("bad-profile", minimal(site='profile = "exchange2007"'), "sites[0].profile",
     "unknown profile 'exchange2007'"),
    ("duplicate-node-names", minimal(tail='[[sites.nodes]]\nname = "cas1"\naddress = "10.1.0.22"'),
     "sites[0].nodes[1].name", "duplicate node name 'cas1' (also sites[0].nodes[0].name)"),
    ("duplicate-site-names", minimal(tail=SECOND_SITE.format(site="").replace("Site-B", "Site-A")),
     "sites[1].name", "duplicate site name 'Site-A' (also sites[0].name)"),
    ("empty-site-nodes-array", minimal(site="nodes = []").split("[[sites.nodes]]")[0],
     "sites[0].nodes", "a site needs at least one node"),
    ("site-without-nodes", minimal().split("[[sites.nodes]]")[0], "sites[0].nodes",
     "a site needs at least one node"),
    ("no-sites", "[defaults]\nrise = 2\n", "sites", "no sites defined"),
    ("empty-file", "", "sites", "no sites defined"),
    ("sites-as-single-table", '[sites]\nname = "Site-A"\n', "sites",
     "expected an array of tables ([[sites]]), got a table"),
    ("site-not-a-table", 'sites = ["Site-A"]', "sites[0]", "expected a table, got string"),
    ("array-fqdn-not-qualified", minimal(array_fqdn='"outlook"'), "sites[0].array_fqdn",
     "'outlook' is not fully qualified"),
    ("array-fqdn-underscore", minimal(array_fqdn='"out_look.corp.local"'),
     "sites[0].array_fqdn", "may only use letters, digits and inner hyphens"),
    ("array-fqdn-leading-hyphen", minimal(array_fqdn='"-outlook.corp.local"'),
     "sites[0].array_fqdn", "may only use letters, digits and inner hyphens"),
    ("array-fqdn-empty-label", minimal(array_fqdn='"outlook..corp.local"'),
     "sites[0].array_fqdn", "has an empty label"),
    ("array-fqdn-long-label", minimal(array_fqdn=f'"{"a" * 64}.corp.local"'),
     "sites[0].array_fqdn", "has a label longer than 63 characters"),
    ("array-fqdn-too-long", minimal(array_fqdn=f'"{"a." * 127}local"'),
     "sites[0].array_fqdn", "is longer than 253 characters"),
    ("array-fqdn-is-ip", minimal(array_fqdn='"10.1.0.50"'), "sites[0].array_fqdn",
     "is an IP address, not a DNS name"),
    ("node-fqdn-bad", minimal(node='fqdn = "cas 1.corp.local"'), "sites[0].nodes[0].fqdn",
     "'cas 1.corp.local' may only use letters"),
    ("node-address-is-vip", minimal(address='"10.1.0.50"'), "sites[0].nodes[0].address",
     "'10.1.0.50' is the site's VIP"),
    ("node-name-with-slash", minimal(node_name='"CAS/1"'), "sites[0].nodes[0].name",
     "'CAS/1' contains '/'"),
    ("site-name-empty", minimal(site_name='"  "'), "sites[0].name", "must not be empty"),
    ("node-name-control-chars", minimal(node_name='"CAS\\u001b[31m1"'), "sites[0].nodes[0].name",
     "contains control characters"),
    ("notifier-ca-file-missing", minimal(tail=NOTIFIER.format(
        'type = "webhook"\nurl = "https://chat.corp.local/hook"\nca_file = "none.pem"')),
     "notifiers[0].ca_file", "file not found"),
    ("notifier-webhook-without-url", minimal(tail=NOTIFIER.format('type = "webhook"')),
     "notifiers[0].url", "required key is missing"),
    ("notifier-url-not-http", minimal(tail=NOTIFIER.format(
        'type = "webhook"\nurl = "ftp://chat/hook"')), "notifiers[0].url",
     "is not an http(s):// URL"),
    ("notifier-type-unknown", minimal(tail=NOTIFIER.format('type = "pager"')),
     "notifiers[0].type", "'pager'"),
    ("notifier-retries-too-many", minimal(tail=NOTIFIER.format(
        'type = "webhook"\nurl = "https://chat/hook"\nretries = 11')), "notifiers[0].retries",
     "must be between 0 and 10, got 11"),
]


@pytest.mark.parametrize(("text", "path", "phrase"),
                         [case[1:] for case in BAD_CONFIGS], ids=[case[0] for case in BAD_CONFIGS])
def test_malformed_config_names_key_and_problem(text: str, path: str, phrase: str) -> None:
    problems = problems_of(text)

    prefix = f"{SOURCE}: {path}: "
    matching = [line for line in problems if line.startswith(prefix) and phrase in line]
    assert matching, f"no {prefix!r}…{phrase!r} among {problems}"


@pytest.mark.parametrize("text", [case[1] for case in BAD_CONFIGS],
                         ids=[case[0] for case in BAD_CONFIGS])
def test_problems_are_single_clean_lines(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, SOURCE)
    error = caught.value

    assert error.problems
    assert str(error) == "\n".join(error.problems)
    for line in error.problems:
        assert "\n" not in line and "\r" not in line and "\x1b" not in line
        assert line.startswith(f"{SOURCE}: ")
        for leak in ("Traceback", 'File "', "Error:", "Exception", "<class", "_ssl.c"):
            assert leak not in line


def test_all_problems_are_reported_together() -> None:
    text = minimal(
        defaults="rise = 0\nintervall = 3",
        vip='"10.1.0.999"',
        node="ports = { https = 0 }",
        tail='[[sites.nodes]]\nname = "CAS2"\nadress = "10.1.0.22"',
    )

    problems = problems_of(text)

    assert problems == [
        "site.toml: defaults: unknown key 'intervall' (did you mean 'interval'?)",
        "site.toml: defaults.rise: must be between 1 and 100, got 0",
        "site.toml: sites[0].vip: '10.1.0.999' is not an IP address",
        "site.toml: sites[0].nodes[0].ports.https: must be between 1 and 65535, got 0",
        "site.toml: sites[0].nodes[1]: unknown key 'adress' (did you mean 'address'?)",
        "site.toml: sites[0].nodes[1].address: required key is missing",
    ]


def test_syntax_error_at_end_of_file_points_at_last_line() -> None:
    problems = problems_of('[defaults]\nrise = 2\nfall = """3\n\n')

    assert len(problems) == 1
    assert problems[0].startswith("site.toml: line 3: Unterminated string")


def test_deeply_nested_value_is_a_clean_error() -> None:
    problems = problems_of("a = " + "[" * 100_000)

    assert problems == ["site.toml: arrays or inline tables are nested too deeply"]


# --- reading files --------------------------------------------------------------------------


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError) as caught:
        load_config(missing)

    assert caught.value.problems == [f"{missing}: file not found"]


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(str(tmp_path))

    assert caught.value.problems == [f"{tmp_path}: is a directory, not a file"]


def test_an_empty_file_is_read_and_defines_no_sites(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_bytes(b"")

    with pytest.raises(ConfigError) as caught:
        load_config(empty)

    assert caught.value.problems == [
        f"{empty}: sites: no sites defined; add at least one [[sites]] table"]


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    config_file = tmp_path / "site.toml"
    config_file.write_text(minimal(defaults="rise = 0"))

    with pytest.raises(ConfigError) as caught:
        load_config(config_file)

    assert caught.value.problems == [
        f"{config_file}: defaults.rise: must be between 1 and 100, got 0"]


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    config_file = tmp_path / "site.toml"
    config_file.write_bytes(b"[defaults]\nrise = 2\n# caf\xe9\n")

    with pytest.raises(ConfigError) as caught:
        load_config(config_file)

    assert caught.value.problems == [f"{config_file}: line 3: not valid UTF-8 text"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    config_file = tmp_path / "site.toml"
    config_file.write_bytes(b"\xef\xbb\xbf" + minimal().encode())

    assert load_config(config_file).sites[0].name == "Site-A"


def test_hygiene_keys() -> None:
    config = parse_config(minimal(
        defaults="cert_warn_days = 14\ndns_ttl_max = 600",
        site="service_names = ['mail.corp.local', 'autodiscover.corp.local', 'mail.corp.local']"
             "\nexternal_dns_servers = ['192.0.2.53', '198.51.100.53:5353']"))
    (site,) = config.sites
    assert (config.defaults.cert_warn_days, config.defaults.dns_ttl_max) == (14, 600)
    assert site.service_names == ("mail.corp.local", "autodiscover.corp.local")
    assert [str(s) for s in site.external_dns_servers] == ["192.0.2.53", "198.51.100.53:5353"]


def test_agent_and_balancer_keys(tmp_path: Path) -> None:
    token = tmp_path / "agent.token"
    token.write_text("x" * 32)
    config = parse_config(minimal(
        defaults="lb_admin = true\nlb_grace = 30\nskew_max = 1.4\nvip_samples = 3",
        site='agent_token_file = "agent.token"',
        node='agent = "https://10.1.0.21:8799/"',
        tail='[sites.lb]\ntype = "haproxy"\nstats_url = "http://10.1.0.5:8404/stats"\n'
             'socket = "10.1.0.5:9999"\nbackend = "exch_https"\n'
             '[sites.lb.servers]\nCAS1 = "cas1-https"'), base_dir=tmp_path)
    d = config.defaults
    assert (d.lb_admin, d.lb_grace, d.skew_max, d.vip_samples) == (True, 30.0, 1.4, 3)
    (site,) = config.sites
    assert site.nodes[0].agent == "https://10.1.0.21:8799"
    assert site.nodes[0].agent_token_file == token
    assert site.lb is not None and site.lb.backend == "exch_https"
    assert site.lb.server_for("CAS1") == "cas1-https"
    assert site.lb.server_for("CAS2") == "CAS2"


# --- ranges: every number the config accepts is one the monitor can live with ----------------


@pytest.mark.parametrize("days", [1_000_000, 2**63 - 1])
def test_a_retention_the_loader_accepts_never_crashes_the_history(tmp_path: Path,
                                                                    days: int) -> None:
    """`retention_days = 1000000` used to load and then kill `watch` and the console with
    OverflowError at the history's first prune."""
    try:
        config = parse_config(minimal(defaults=f"retention_days = {days}"))
    except ConfigError as err:
        (problem,) = err.problems
        assert problem.startswith("<config>: defaults.retention_days: must be between 1 and ")
        return
    with EventStore(tmp_path / "h.sqlite3",
                    retention_days=config.defaults.retention_days) as store:
        assert store.prune() == 0


def _snippet(key: str, value: str) -> tuple[str, str]:
    """A config setting RANGES' `key` to `value`, and the path its problems are reported at."""
    lb = '[sites.lb]\ntype = "haproxy"\nsocket = "/run/haproxy.sock"\n'
    if key.startswith("defaults."):
        name = key.removeprefix("defaults.")
        return minimal(defaults=f"{name} = {value}"), key
    return {
        "sites[].ports.*": (minimal(site=f"ports = {{ https = {value} }}"),
                            "sites[0].ports.https"),
        "sites[].nodes[].ports.*": (minimal(node=f"ports = {{ mapi = {value} }}"),
                                    "sites[0].nodes[0].ports.mapi"),
        "sites[].lb.timeout": (minimal(tail=f"{lb}timeout = {value}"), "sites[0].lb.timeout"),
        "notifiers[].timeout": (minimal(tail=NOTIFIER.format(f'type = "bell"\ntimeout = {value}')),
                                "notifiers[0].timeout"),
        "notifiers[].retries": (minimal(tail=NOTIFIER.format(
            f'type = "webhook"\nurl = "https://chat/hook"\nretries = {value}')),
            "notifiers[0].retries"),
    }[key]


def _outside(allowed: Range) -> list[float]:
    """Values just outside `allowed`, and the far ends a hostile file may try."""
    if allowed.integer:
        return [int(allowed.low) - 1, int(allowed.high) + 1, 2**63 - 1, -(2**63)]
    low = allowed.low if allowed.above_low else math.nextafter(allowed.low, -math.inf)
    return [low, math.nextafter(allowed.high, math.inf), math.inf, -math.inf, math.nan]


def _toml(value: float) -> str:
    return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))


@pytest.mark.parametrize(("key", "value"), [
    (key, value) for key, allowed in RANGES.items() for value in _outside(allowed)])
def test_a_number_outside_its_range_is_one_line_naming_key_value_and_range(
        key: str, value: float) -> None:
    text, path = _snippet(key, _toml(value))
    problems = problems_of(text)
    assert problems == [f"{SOURCE}: {path}: must be {RANGES[key].words()}, got "
                        f"{_toml(value)}" + (" (castui counts seconds, not milliseconds)"
                                             if RANGES[key].unit == "seconds" and value >= 1000
                                             else "")]


@pytest.mark.parametrize(("key", "end"), [
    (key, end) for key in RANGES for end in ("low", "high")])
def test_a_number_at_either_end_of_its_range_is_accepted(key: str, end: str) -> None:
    allowed = RANGES[key]
    value = getattr(allowed, end)
    if end == "low" and allowed.above_low:
        value = math.nextafter(value, math.inf)
    convert = integer(key) if allowed.integer else number_in(key)
    assert convert(int(value) if allowed.integer else value) == value
    text, path = _snippet(key, _toml(value))
    if key == "defaults.interval":  # the timeout must stay below it
        text = text.replace("[defaults]\n", "[defaults]\ntimeout = 0.05\n")
    if key == "defaults.timeout" and end == "high":
        # In its range; but 300 s is also the longest interval, and a timeout must be less.
        text = text.replace("[defaults]\n", "[defaults]\ninterval = 300\n")
        assert problems_of(text) == [
            f"{SOURCE}: defaults.timeout: must be less than interval (300), got 300"]
        return
    config = parse_config(text, base_dir=Path("/"))
    site = config.sites[0]
    read = {"sites[0].ports.https": site.ports.https,
            "sites[0].nodes[0].ports.mapi": site.nodes[0].ports.mapi,
            "sites[0].lb.timeout": site.lb.timeout if site.lb else None,
            "notifiers[0].timeout": config.notifiers[0].timeout if config.notifiers else None,
            "notifiers[0].retries": config.notifiers[0].retries if config.notifiers else None}
    assert read.get(path, getattr(config.defaults, key.partition(".")[2], None)) == value


def test_every_number_in_the_model_has_a_range() -> None:
    """A new numeric key must get a documented range before it can be read."""
    expected = {f"defaults.{f.name}" for f in dataclasses.fields(Defaults)
                if f.type in ("float", "int", "float | None", "int | None")}
    expected |= {"sites[].ports.*", "sites[].nodes[].ports.*", "sites[].lb.timeout",
                 "notifiers[].timeout", "notifiers[].retries"}
    numeric = {f"notifiers[].{f.name}" for f in dataclasses.fields(Notifier)
               if f.type in ("float", "int")}
    numeric |= {f"sites[].lb.{f.name}" for f in dataclasses.fields(Balancer)
                if f.type in ("float | None", "int | None")}
    assert numeric <= expected
    assert set(RANGES) == expected


def test_every_range_is_in_the_documentation() -> None:
    rows = {line.split("|")[1].strip().strip("`"): line
            for line in (ROOT / "docs" / "configuration.md").read_text().splitlines()
            if line.startswith("| `")}
    for key, allowed in RANGES.items():
        assert key in rows, f"docs/configuration.md has no row for {key}"
        assert allowed.doc() in rows[key], f"{key}: the docs do not say {allowed.doc()}"


# --- many problems, odd files, numbers TOML cannot hold ----------------------------------------


def test_fifty_thousand_unknown_keys_give_twenty_lines_and_a_count() -> None:
    keys = "\n".join(f"colour{i} = 1" for i in range(50_000))
    problems = problems_of(minimal(defaults=keys))
    assert len(problems) == 21
    assert problems[0] == f"{SOURCE}: defaults: unknown key 'colour0' (known keys: " + \
        problems[0].split("(known keys: ")[1]
    assert problems[19].startswith(f"{SOURCE}: defaults: unknown key 'colour19' ")
    assert problems[20] == f"{SOURCE}: and 49980 more problems"


def test_twenty_problems_are_listed_without_a_count_and_one_more_is_counted() -> None:
    keys = "\n".join(f"colour{i} = 1" for i in range(20))
    problems = problems_of(minimal(defaults=keys))
    assert len(problems) == 20 and "more problem" not in problems[-1]
    problems = problems_of(minimal(defaults=keys + "\ncolour20 = 1"))
    assert problems[20:] == [f"{SOURCE}: and 1 more problem"]


def test_a_huge_unknown_key_is_listed_against_the_known_keys_not_matched() -> None:
    """Matching a 3 MB key against the known ones took seconds; it is no typo anyway."""
    (problem,) = problems_of(minimal(defaults="interval" + "l" * 3_000_000 + " = 2"))
    assert problem.startswith(f"{SOURCE}: defaults: unknown key 'intervallll")
    assert "(known keys: ca_file, cert_warn_days, " in problem and len(problem) < 600


FILE_KEYS = {
    "defaults.ca_file": lambda value: minimal(defaults=f"ca_file = {value}"),
    "notifiers[0].ca_file": lambda value: minimal(tail=NOTIFIER.format(
        f'type = "webhook"\nurl = "https://chat/hook"\nca_file = {value}')),
    "sites[0].agent_token_file": lambda value: minimal(site=f"agent_token_file = {value}"),
    "sites[0].nodes[0].agent_token_file":
        lambda value: minimal(node=f"agent_token_file = {value}"),
    "sites[0].lb.stats_password_file": lambda value: minimal(
        tail=f'[sites.lb]\ntype = "haproxy"\nsocket = "/run/h.sock"\nstats_user = "castui"\n'
             f"stats_password_file = {value}"),
}


def _odd_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files that are not what a key wants, and what castui must say about each."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    return {
        "directory": (Path("/etc"), "'/etc' is a directory, not a file"),
        "device": (Path("/dev/zero"), "'/dev/zero' is not a regular file (a character device)"),
        "fifo": (fifo, f"'{fifo}' is not a regular file (a FIFO)"),
        "empty": (empty, f"'{empty}' is empty"),
        "missing": (tmp_path / "none", f"file not found: '{tmp_path / 'none'}'"),
    }


@pytest.mark.parametrize("key", FILE_KEYS)
@pytest.mark.parametrize("case", ["directory", "device", "fifo", "empty", "missing"])
def test_a_file_key_says_what_is_wrong_with_the_file(tmp_path: Path, key: str,
                                                     case: str) -> None:
    path, message = _odd_files(tmp_path)[case]
    problems = problems_of(FILE_KEYS[key](f"'{path}'"), base_dir=tmp_path)
    assert problems == [f"{SOURCE}: {key}: {message}"]


@pytest.mark.parametrize("key", FILE_KEYS)
@pytest.mark.parametrize(("name", "message"), [
    ('"ca\\u0000.pem"', "'ca\\x00.pem' contains a NUL character"),
    ("'/" + "x" * 5000 + "'", "cannot read: file name too long: '/xxx"),
    ("'~nosuchuser-castui/ca.pem'",
     "'~nosuchuser-castui/ca.pem': no home directory for that user here"),
], ids=["nul", "name-too-long", "unknown-user"])
def test_a_file_name_the_os_refuses_is_one_line(key: str, name: str, message: str) -> None:
    (problem,) = problems_of(FILE_KEYS[key](name))
    assert problem.startswith(f"{SOURCE}: {key}: {message}")


@pytest.mark.parametrize("key", ["defaults.ca_file", "notifiers[0].ca_file"])
@pytest.mark.parametrize(("content", "reason"), [
    (trustme.CA().private_key_pem.bytes(), "no certificate in it"),  # the key, not the cert
    (b"\x00\x9f binary, not PEM \xff" * 100, "no certificate in it"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
     "a PEM block in it does not decode"),
], ids=["private-key", "binary", "corrupt-pem"])
def test_a_ca_file_that_holds_no_certificate_says_why(tmp_path: Path, key: str, content: bytes,
                                                      reason: str) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(content)
    problems = problems_of(FILE_KEYS[key](f"'{bundle}'"), base_dir=tmp_path)
    assert problems == [f"{SOURCE}: {key}: '{bundle}' is not a PEM CA bundle ({reason})"]


def test_a_secret_file_bigger_than_a_secret_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "token"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    problems = problems_of(FILE_KEYS["sites[0].agent_token_file"](f"'{big}'"))
    assert problems == [f"{SOURCE}: sites[0].agent_token_file: '{big}' is larger than 64 KiB, "
                        "not a token or password"]


def test_an_integer_too_long_for_python_is_one_line() -> None:
    problems = problems_of(minimal(defaults="rise = " + "9" * 5000))
    assert problems == [f"{SOURCE}: a value TOML cannot hold: Exceeds the limit (4300 digits) "
                        "for integer string conversion: value has 5000 digits"]


def test_a_resolver_port_too_long_for_python_is_one_line() -> None:
    problems = problems_of(minimal(site=f'dns_servers = ["10.1.0.10:{"9" * 5000}"]'))
    assert problems == [f"{SOURCE}: sites[0].dns_servers[0]: port {'9' * 20}… in "
                        f"'10.1.0.10:{'9' * 50}…' must be between 1 and 65535"]


def test_audit_keys(tmp_path: Path) -> None:
    """`exchange_export` is read next to the config (it may not exist yet: the console says
    so); `balancer_addresses` are the addresses a client through the array comes from."""
    config = load_config(_written(tmp_path, minimal(
        top='exchange_export = "exports/estate.json"',
        site='balancer_addresses = ["10.1.0.5", "10.1.0.6", "10.1.0.5"]')))
    assert config.exchange_export == tmp_path / "exports" / "estate.json"
    assert config.sites[0].balancer_addresses == ("10.1.0.5", "10.1.0.6")
    assert parse_config(minimal()).exchange_export is None


def test_a_node_address_is_not_a_balancer_address() -> None:
    assert problems_of(minimal(site='balancer_addresses = ["10.1.0.21", "balancer"]')) == [
        "site.toml: sites[0].balancer_addresses[1]: 'balancer' is not an IP address",
        "site.toml: sites[0].balancer_addresses: '10.1.0.21' is node CAS1's own address, "
        "not the balancer's"]


def _written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "estate.toml"
    path.write_text(text)
    return path
