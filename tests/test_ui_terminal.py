"""Made for SSH: the console ends cleanly when its terminal goes away, never spins a core.

`castui --config FILE` runs for real in a pseudo-terminal (the stdlib pty module); the test
then hangs up the way an SSH session dies and times the exit.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from castui.ui.terminal import terminal_gone
from tests.support.net import wait_for_sync
from tests.support.ui_estate import CONFIG

DRAWN_WITHIN = 30.0
#: The stdin check runs every second and shutting down takes well under one more; the rest is
#: room for a loaded machine (the history is fsynced, and other tests share the disk).
EXIT_WITHIN = 10.0


class Console:
    """`castui --config` in a pty; the output is drained so the child never blocks on it."""

    def __init__(self, tmp: Path, *, controlling: bool, term: str = "xterm-256color") -> None:
        config = tmp / "estate.toml"
        config.write_text(CONFIG)  # loopback addresses where nothing listens: all refused
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

        def become_controlling_tty() -> None:
            if controlling:
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = {**os.environ, "TERM": term}
        env.pop("NO_COLOR", None)
        env.pop("COLORTERM", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "castui", "--config", str(config), "--db",
             str(tmp / "history.sqlite3")],
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
            preexec_fn=become_controlling_tty, env=env, cwd=Path(__file__).parent.parent)
        os.close(slave)
        self.output = bytearray()
        self._master_open = True
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output.extend(data)

    def wait_drawn(self) -> None:
        def drawn() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"console exited early: {bytes(self.output)[-500:]!r}")
            return b"Site-A" in self.output

        wait_for_sync(drawn, DRAWN_WITHIN, interval=0.05, what="the console to draw")

    def hang_up(self) -> None:
        """The terminal goes away, as when sshd loses the client."""
        if self._master_open:
            self._master_open = False
            os.close(self.master)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.hang_up()
        self._reader.join(5)


Factory = Callable[..., Console]


@pytest.fixture
def console_factory(tmp_path: Path) -> Iterator[Factory]:
    started: list[Console] = []

    def make(*, controlling: bool = True, term: str = "xterm-256color") -> Console:
        console = Console(tmp_path, controlling=controlling, term=term)
        started.append(console)
        return console

    yield make
    for console in started:
        console.close()


def exits_promptly(console: Console) -> int:
    """The exit status; fails, naming the CPU it burns, if the console does not exit."""
    proc = psutil.Process(console.proc.pid)
    try:
        return console.proc.wait(EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        spin = proc.cpu_percent(0.5)
        raise AssertionError(f"still running {EXIT_WITHIN:g}s after the hang-up, "
                             f"using {spin:.0f}% of a core") from None


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_a_hangup_or_termination_signal_ends_the_console_cleanly(
        console_factory: Factory, sig: signal.Signals) -> None:
    console = console_factory()
    console.wait_drawn()
    console.proc.send_signal(sig)
    assert exits_promptly(console) == 0  # a clean exit, not death by the signal


def test_the_terminal_going_away_ends_the_console(console_factory: Factory) -> None:
    """The pty is the console's controlling terminal: the kernel sends SIGHUP."""
    console = console_factory()
    console.wait_drawn()
    console.hang_up()
    assert exits_promptly(console) == 0


def test_a_dead_stdin_ends_the_console_even_without_a_signal(
        console_factory: Factory) -> None:
    """Not the controlling terminal: no SIGHUP comes, and a dead tty reads empty forever.
    Without the periodic stdin check the console spins a core here (Dolphie's issue #101)."""
    console = console_factory(controlling=False)
    console.wait_drawn()
    console.hang_up()
    assert exits_promptly(console) == 0


def test_terminal_gone_tells_a_live_tty_from_a_dead_one(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    try:
        assert terminal_gone(slave) is None
        os.close(master)
        assert terminal_gone(slave) in ("the terminal hung up", "stdin is no longer a terminal")
    finally:
        os.close(slave)
    with (tmp_path / "file").open("w") as plain:
        assert terminal_gone(plain.fileno()) == "stdin is no longer a terminal"


def test_without_a_terminal_the_console_says_to_use_watch(tmp_path: Path) -> None:
    config = tmp_path / "estate.toml"
    config.write_text(CONFIG)
    done = subprocess.run([sys.executable, "-m", "castui", "--config", str(config)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent, check=False)
    assert done.returncode == 2
    assert "castui watch" in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_quits_and_leaves_a_clean_terminal(console_factory: Factory) -> None:
    """Ctrl-C reaches the console as a key (raw mode) and quits it: the alternate screen is
    left, the cursor shown again and the line discipline back to cooked (echo, lines)."""
    console = console_factory()
    console.wait_drawn()
    os.write(console.master, b"\x03")
    assert exits_promptly(console) == 0
    tail = bytes(console.output)[-400:]
    assert b"\x1b[?1049l" in tail, "the alternate screen left"
    assert b"\x1b[?25h" in tail, "the cursor shown"
    lflag = termios.tcgetattr(console.master)[3]
    assert lflag & termios.ECHO and lflag & termios.ICANON, "echo and line editing back"


@pytest.mark.parametrize("term", ["dumb", "xterm"])
def test_colour_codes_match_the_terminal(console_factory: Factory, term: str) -> None:
    """TERM=dumb: no colour codes at all (Textual alone would send 24-bit ones); TERM=xterm
    (16 colours): the estate, all refused, is red, never magenta."""
    console = console_factory(term=term)
    console.wait_drawn()
    wait_for_sync(lambda: b"CRITICAL" in console.output, DRAWN_WITHIN, interval=0.05,
                  what="the estate judged CRITICAL")
    os.write(console.master, b"\x11")  # ctrl+q
    assert exits_promptly(console) == 0
    params = {p for sgr in re.findall(rb"\x1b\[([0-9;]*)m", bytes(console.output))
              for p in sgr.split(b";")}
    colours = {p for p in params if re.fullmatch(rb"3[0-8]|4[0-8]|9[0-7]|10[0-7]", p)}
    if term == "dumb":
        assert colours == set(), f"colour codes on a dumb terminal: {sorted(colours)}"
    else:
        assert b"31" in colours and b"41" in colours, "DOWN and CRITICAL in red"
        assert not colours & {b"35", b"95", b"45", b"105", b"38", b"48"}, sorted(colours)


def test_ctrl_l_repaints_the_whole_screen(console_factory: Factory) -> None:
    """A line that has not changed (the DNS line) is written again only by a full repaint:
    what clears a `wall` message or line noise left on the screen."""
    console = console_factory()
    console.wait_drawn()
    for _ in range(15):  # until the estate settles: two clock ticks without the DNS line
        console.output.clear()
        wait_for_sync(lambda: len(set(re.findall(rb"\d\d:\d\d:(\d\d) UTC",
                                                 bytes(console.output)))) >= 2,
                      DRAWN_WITHIN, interval=0.05, what="two clock ticks")
        if b"outlook.site-a.corp.local" not in console.output:
            break
    else:
        raise AssertionError("the DNS line kept being written: the screen never settled")
    console.output.clear()
    os.write(console.master, b"\x0c")  # ctrl+l
    wait_for_sync(lambda: b"outlook.site-a.corp.local" in console.output, DRAWN_WITHIN,
                  interval=0.05, what="the unchanged DNS line written again")
    os.write(console.master, b"\x11")
    assert exits_promptly(console) == 0
