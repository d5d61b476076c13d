"""The board's text console over its CDC serial port: send one command, get its reply.

Used by `rig console` (interactive and `--command`) and by tests; works on any pyserial port or
URL (a real CDC tty, the loopback board's pty, `loop://`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from rig import contract as c
from rig.errors import RigError

DEFAULT_BAUD = 115200
LOG_PREFIX = c.CONSOLE_LOG_PREFIX
"""Log lines (`log on`) start with this; replies never do, so a reply parser can skip them."""


class ConsoleError(RigError, OSError):
    """The console port could not be opened or used; the message names the port."""


class ConsoleTimeout(ConsoleError, TimeoutError):
    """No prompt came back in time; the message names the command and what did arrive."""


class Console:
    """A command/response session with the board's console (`contract.CONSOLE_PROMPT` ends a reply)."""

    def __init__(self, port: Any, *, name: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.name = name or str(getattr(port, "port", None) or port)
        self._clock = clock
        self.log_lines: list[str] = []
        """Log lines (`# ...`, prefix kept) that arrived among replies, oldest first; clear it at will."""
        self._seen = ""
        """Output `expect` read past its last match (the next `expect` searches it first)."""

    @classmethod
    def open(cls, url: str, *, baudrate: int = DEFAULT_BAUD, timeout_s: float = 0.1) -> Console:
        """Open `url` (a device path or pyserial URL) and return a Console on it."""
        import serial

        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout_s, write_timeout=2.0)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise ConsoleError(f"console {url}: cannot open: {exc}") from None
        return cls(port, name=url)

    def close(self) -> None:
        """Close the port."""
        self.port.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def read_until_prompt(self, timeout_s: float) -> str:
        """Everything up to and excluding the next prompt; ConsoleTimeout if none arrives in time."""
        prompt = c.CONSOLE_PROMPT.encode()
        buf = bytearray()
        deadline = self._clock() + timeout_s
        while not buf.endswith(prompt):
            if self._clock() > deadline:
                raise ConsoleTimeout(f"console {self.name}: no prompt {c.CONSOLE_PROMPT!r} within "
                                     f"{timeout_s:g} s; received {bytes(buf)[-200:]!r}")
            chunk = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 1))
            if chunk:
                buf += chunk
        return buf[: -len(prompt)].decode("utf-8", errors="replace")

    def _read_some(self, deadline: float) -> bytes:
        """What the port has, blocking until a byte arrives or `deadline` (the port's read timeout is
        shortened to the time left, never lengthened)."""
        left = deadline - self._clock()
        timeout = getattr(self.port, "timeout", None)
        if timeout is None or timeout > left:
            self.port.timeout = max(0.0, left)
        try:
            chunk: bytes = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 1))
        finally:
            if self.port.timeout != timeout:
                self.port.timeout = timeout
        return chunk

    def expect(self, pattern: str | re.Pattern[str], timeout_s: float = 2.0) -> re.Match[str]:
        """Read until `pattern` (a regular expression) matches the output and return the match; what
        followed the match stays for the next `expect`. ConsoleTimeout shows what arrived instead."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = self._clock() + timeout_s
        while True:
            found = regex.search(self._seen)
            if found is not None:
                self._seen = self._seen[found.end():]
                return found
            if self._clock() >= deadline:
                seen, self._seen = self._seen, ""
                raise ConsoleTimeout(f"console {self.name}: {regex.pattern!r} did not appear within "
                                     f"{timeout_s:g} s; received instead {seen[-400:]!r}")
            self._seen += self._read_some(deadline).decode("utf-8", errors="replace")

    def sync(self, timeout_s: float = 2.0) -> str:
        """Check the console answers: run `version` and return its reply (a banner for people)."""
        return self.command("version", timeout_s)

    def command(self, text: str, timeout_s: float = 2.0) -> str:
        """Send one command line and return its reply without the echoed command and the prompt. Log
        lines (`# ...`) go to `log_lines`: those with the reply and those already received before the
        command; other output received before it is stale and dropped (with any line still in flight)."""
        if "\n" in text or "\r" in text:
            raise ValueError(f"console command {text!r}: one line only")
        carry = self._keep_waiting_log_lines()
        self._seen = ""
        self.port.write(text.encode() + b"\n")
        self.port.flush()
        reply = carry + self.read_until_prompt(timeout_s)
        lines = []
        for line in reply.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            if line.startswith(LOG_PREFIX):
                self.log_lines.append(line)
            else:
                lines.append(line)
        if lines and lines[0].strip() == text.strip():
            lines = lines[1:]
        return "\n".join(lines).strip("\n")

    def _keep_waiting_log_lines(self) -> str:
        """Read what arrived since the last reply: log lines go to `log_lines`, other stale output is
        dropped; returns a log line cut short by the read, to be completed by what follows."""
        waiting = int(getattr(self.port, "in_waiting", 0) or 0)
        stale = self.port.read(waiting).decode("utf-8", errors="replace") if waiting else ""
        self.port.reset_input_buffer()
        *whole, tail = stale.replace("\r\n", "\n").split("\n")
        self.log_lines.extend(line for line in whole if line.startswith(LOG_PREFIX))
        return tail if tail.startswith(LOG_PREFIX) else ""

    def set_log(self, on: bool, timeout_s: float = 2.0) -> int:
        """Turn the board's log lines on or off (`log on|off`); returns the lines it dropped so far."""
        reply = self.command(f"log {'on' if on else 'off'}", timeout_s)
        state, _, dropped = reply.partition(" dropped=")
        if state != f"log {'on' if on else 'off'}" or not dropped.isdigit():
            raise ConsoleError(f"console {self.name}: unexpected reply to `log`: {reply!r}")
        return int(dropped)


class ConsoleVerbs:
    """`expect` and `command` mixed into an opened pyserial port (see `open_console_port`), so a test
    keeps every pyserial method and gains the two verbs of a Console on the same port."""

    def _rig_console(self) -> Console:
        session: Console | None = self.__dict__.get("_rig_session")
        if session is None:
            name = str(getattr(self, "port", "") or self)
            session = self.__dict__["_rig_session"] = Console(self, name=name)
        return session

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 2.0) -> re.Match[str]:
        """Console.expect on this port: the match of `pattern` in what arrives within `timeout` seconds."""
        return self._rig_console().expect(pattern, timeout)

    def command(self, text: str, timeout: float = 2.0) -> str:
        """Console.command on this port: send one line, return its reply without echo and prompt."""
        return self._rig_console().command(text, timeout)


def open_console_port(url: str, *, baudrate: int = DEFAULT_BAUD, timeout_s: float = 1.0) -> Any:
    """`url` opened with pyserial as an instance of its own port class with ConsoleVerbs mixed in."""
    import serial

    port = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout_s, write_timeout=timeout_s,
                                 do_not_open=True)
    base = type(port)
    port.__class__ = type(f"Console{base.__name__}", (base, ConsoleVerbs), {})
    try:
        port.open()
    except (serial.SerialException, ValueError, OSError) as exc:
        raise ConsoleError(f"console {url}: cannot open: {exc}") from None
    return port

