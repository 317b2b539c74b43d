"""A real DCE/RPC endpoint mapper for tests: Samba's samba-dcerpcd on one loopback address.

samba-dcerpcd runs in the foreground serving rpcd_epmapper (the endpoint mapper) and rpcd_lsad
(lsarpc, on a dynamic port), confined by its smb.conf to `address` (`interfaces` +
`bind interfaces only`) and to a temporary directory for every database and socket.

The endpoint mapper's TCP port comes from its IDL (ncacn_ip_tcp:[135]) and no smb.conf option
moves it, so it listens on `address`:135. Binding there needs root (or CAP_NET_BIND_SERVICE):
we are root here and in CI; elsewhere the test is skipped (failed under CI=true).
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import NoReturn

import psutil
import pytest

from tests.support.procs import ManagedProcess, require_binary, under_ci

EPM_PORT = 135
#: Where distributions install Samba's RPC daemons (Debian and Fedora, then older layouts).
LIBEXEC_DIRS = (Path("/usr/libexec/samba"), Path("/usr/lib/samba"),
                Path("/usr/local/samba/libexec"))
HELPERS = ("rpcd_epmapper", "rpcd_lsad")
CONNECT_TIMEOUT = 0.2
READY_TIMEOUT = 15.0
CHILD_EXIT_TIMEOUT = 5.0

_SMB_CONF = """\
[global]
    server role = standalone server
    workgroup = CASTUI
    netbios name = EPMTEST
    disable netbios = yes
    # The address with a prefix: Samba then takes it even though no interface carries it.
    interfaces = {address}/8
    bind interfaces only = yes
    # We start samba-dcerpcd ourselves and want its helpers running from the start.
    rpc start on demand helpers = no
    private dir = {root}/private
    lock directory = {root}/lock
    state directory = {root}/state
    cache directory = {root}/cache
    pid directory = {root}/pid
    ncalrpc dir = {root}/ncalrpc
    passdb backend = tdbsam
    load printers = no
    printcap name = /dev/null
    disable spoolss = yes
"""
_DIRS = ("private", "lock", "state", "cache", "pid", "ncalrpc")


def _skip_or_fail(reason: str) -> NoReturn:
    if under_ci():
        pytest.fail(f"{reason}; CI=true forbids skipping", pytrace=False)
    pytest.skip(reason)


def samba_dcerpcd() -> Path:
    """samba-dcerpcd's path (its rpcd_* helpers beside it); skip (fail under CI) if missing."""
    for directory in LIBEXEC_DIRS:
        path = directory / "samba-dcerpcd"
        if path.is_file() and all((directory / helper).is_file() for helper in HELPERS):
            return path
    return Path(require_binary("samba-dcerpcd"))


def require_epm_port(address: str) -> None:
    """Skip (fail under CI) unless we may bind `address`:135, i.e. unless we are privileged."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, EPM_PORT))
        except PermissionError:
            _skip_or_fail(f"binding {address}:{EPM_PORT} needs root or CAP_NET_BIND_SERVICE "
                          "(Samba's endpoint mapper only listens on port 135)")
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            pytest.fail(f"{address}:{EPM_PORT} is already in use", pytrace=False)


class SambaEpm:
    """samba-dcerpcd serving the endpoint mapper on `address`:135 and lsarpc on a dynamic port.

    `log_dir` keeps its log; its state lives in a temporary directory removed on stop.
    """

    def __init__(self, address: str, log_dir: Path) -> None:
        binary = samba_dcerpcd()
        require_epm_port(address)
        self.address = address
        self.port = EPM_PORT
        # Short and ours alone: ncalrpc socket paths must fit in 108 bytes.
        self._root = Path(tempfile.mkdtemp(prefix="castui-samba-"))
        for name in _DIRS:
            (self._root / name).mkdir()
        conf = self._root / "smb.conf"
        conf.write_text(_SMB_CONF.format(address=address, root=self._root))
        argv = [str(binary), f"--configfile={conf}", "--foreground", "--no-process-group",
                "--debug-stdout", "--debuglevel=1",
                *(str(binary.parent / helper) for helper in HELPERS)]
        self.process = ManagedProcess(argv, log_path=log_dir / f"samba-dcerpcd-{address}.log",
                                      ready=self._ready, ready_timeout=READY_TIMEOUT)

    def _listening_ports(self) -> set[int]:
        try:
            conns = psutil.Process(self.process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return set()
        return {conn.laddr.port for conn in conns
                if conn.status == psutil.CONN_LISTEN and conn.laddr.ip == self.address}

    def _ready(self) -> bool:
        """The endpoint mapper accepts TCP, and lsarpc listens on its dynamic port.

        Samba fills its endpoint database right after opening an rpcd's sockets, so once
        both listen an ept_map for lsarpc finds it.
        """
        try:
            with socket.create_connection((self.address, self.port), CONNECT_TIMEOUT):
                pass
        except OSError:
            return False
        return len(self._listening_ports() - {self.port}) > 0

    def start(self) -> SambaEpm:
        try:
            self.process.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the rpcd_* workers, then samba-dcerpcd, then remove the state. Safe to repeat.

        Workers go first, while samba-dcerpcd is there to reap them: orphaned, they would
        linger as zombies until PID 1 gets round to it.
        """
        workers: list[psutil.Process] = []
        if self.process.alive():
            with contextlib.suppress(psutil.NoSuchProcess):
                workers = psutil.Process(self.process.pid).children(recursive=True)
        for signal_worker in (psutil.Process.terminate, psutil.Process.kill):
            for worker in workers:
                with contextlib.suppress(psutil.NoSuchProcess):
                    signal_worker(worker)
            _, workers = psutil.wait_procs(workers, timeout=CHILD_EXIT_TIMEOUT)
        self.process.stop()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> SambaEpm:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
