"""`castui agent` as an operator runs it: a real process, real sockets, one-line errors."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from castui.agent import TokenError, read_token
from castui.cli import main
from tests.support.net import free_ports, loopback_block, wait_for_sync
from tests.support.procs import ManagedProcess

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def token_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "agent.token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def test_subprocess_counts_real_connections(tmp_path: Path, token: str, token_file: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    host = loopback_block().addr(1)
    agent_port, service_port = free_ports(host, 2)
    log = tmp_path / "agent.log"
    argv = [sys.executable, "-m", "castui", "agent", "--listen", f"{host}:{agent_port}",
            "--token-file", str(token_file), "--ports", f"{service_port},443", "--verbose"]
    agent = ManagedProcess(argv, log_path=log,
                           ready=lambda: "listening on" in log.read_text(errors="replace"),
                           stop_signals=((signal.SIGTERM, 5.0),))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH",
                                                                               "")]))
    url = f"http://{host}:{agent_port}/v1/status"
    with agent, socket.create_server((host, service_port)) as listener, \
            httpx.Client(trust_env=False, timeout=5) as http:

        def port_counts() -> dict[str, int]:
            response = http.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            counts: dict[str, int] = response.json()["connections"][str(service_port)]
            return counts

        clients = []
        for source in ("127.0.60.11", "127.0.60.12", "127.0.60.12"):
            sock = socket.create_connection((host, service_port), source_address=(source, 0))
            clients.append(sock)
        accepted = [listener.accept()[0] for _ in clients]
        try:
            wait_for_sync(lambda: port_counts() == {"established": 3, "remotes": 2,
                                                    "listening": True},
                          8, interval=0.6, what="3 connections from 2 clients")
        finally:
            for sock in clients + accepted:
                sock.close()
        wait_for_sync(lambda: port_counts()["established"] == 0, 8, interval=0.6,
                      what="counts back to zero")
        assert http.get(url).status_code == 401
    assert agent.proc is not None and agent.proc.returncode == 0
    text = log.read_text()
    assert f"listening on http://{host}:{agent_port}" in text
    assert "GET /v1/status 200" in text and "GET /v1/status 401" in text
    assert token not in text


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["agent", *args])
    out, err = capsys.readouterr()
    assert out == ""
    return code, err


def test_port_in_use(capsys: pytest.CaptureFixture[str], token_file: Path) -> None:
    host = loopback_block().addr(1)
    with socket.create_server((host, 0)) as holder:
        port = holder.getsockname()[1]
        code, err = run_cli(capsys, "--listen", f"{host}:{port}", "--token-file",
                            str(token_file))
    assert code == 2
    assert err == f"castui agent: cannot listen on {host}:{port}: address already in use\n"


@pytest.mark.parametrize("listen", ["8799", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000",
                                    "::1:8799", "[::1]", ":8799"])
def test_bad_listen(capsys: pytest.CaptureFixture[str], token_file: Path, listen: str) -> None:
    code, err = run_cli(capsys, "--listen", listen, "--token-file", str(token_file))
    assert code == 2
    assert err.startswith(f"castui agent: bad --listen '{listen}': expected HOST:PORT")
    assert err.count("\n") == 1


def test_token_file_problems(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    listen = f"{loopback_block().addr(1)}:0"
    open_file = tmp_path / "open.token"
    open_file.write_text(secrets.token_urlsafe(32))
    open_file.chmod(0o644)
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    empty.chmod(0o600)
    for path, message in [
        (tmp_path / "missing.token", "file not found"),
        (tmp_path, "not a regular file"),
        (empty, "empty"),
        (open_file, "is accessible by every user (mode 0644); run: chmod 600"),
    ]:
        code, err = run_cli(capsys, "--listen", listen, "--token-file", str(path))
        assert code == 2, path
        assert err.startswith(f"castui agent: token file {path}")
        assert message in err
        assert err.count("\n") == 1


def test_tls_files_problems(capsys: pytest.CaptureFixture[str], token_file: Path,
                            tmp_path: Path) -> None:
    listen = f"{loopback_block().addr(1)}:0"
    code, err = run_cli(capsys, "--listen", listen, "--token-file", str(token_file),
                        "--tls-cert", str(token_file))
    assert (code, err) == (2, "castui agent: --tls-cert and --tls-key go together\n")
    code, err = run_cli(capsys, "--listen", listen, "--token-file", str(token_file),
                        "--tls-cert", str(tmp_path / "none.pem"), "--tls-key", str(token_file))
    assert code == 2
    assert err.startswith("castui agent: cannot load TLS certificate")
    assert err.count("\n") == 1


def test_read_token_rules(tmp_path: Path) -> None:
    path = tmp_path / "t"
    good = secrets.token_urlsafe(32)
    warnings: list[str] = []

    def write(data: bytes, mode: int = 0o600) -> Path:
        path.write_bytes(data)
        path.chmod(mode)
        return path

    assert read_token(write(f"  {good}\r\n".encode())) == good
    assert read_token(write(b"\xef\xbb\xbf" + good.encode())) == good  # Notepad's UTF-8 BOM
    assert read_token(write(f"{good}\r\n".encode("utf-16"))) == good  # PowerShell 5 `>`
    assert read_token(write(good.encode(), 0o640), on_warning=warnings.append) == good
    assert warnings and "accessible by its group (mode 0640)" in warnings[0]
    for data, message in [(b"short-token", "token too short (11 characters"),
                          (b"two words " + good.encode(), "one line of visible ASCII"),
                          (b"\xff\x00garbage", "not text"),
                          (b"x" * 5000, "larger than 4096 bytes")]:
        with pytest.raises(TokenError, match=r"^token file .*") as raised:
            read_token(write(data))
        assert message in str(raised.value)
    with pytest.raises(TokenError, match="every user"):
        read_token(write(good.encode(), 0o606))
    # Windows has no POSIX modes: the check can be turned off (it is, there, by default).
    assert read_token(write(good.encode(), 0o644), check_mode=False) == good
