"""Child processes with prefixed, line-buffered logs, and a clean way to stop them.

Each child runs in its own session (Ctrl-C reaches only the supervisor, which stops children in order)
and gets a parent-death signal, so even a SIGKILLed supervisor leaves no orphan holding a port.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

_COLORS = ["36", "35", "33", "32", "34", "31"]
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Child:
    """One named child process whose output is copied to ours, each line prefixed with its name."""

    _count = 0

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None, user: str | None = None,
                 on_line: Callable[[str], None] | None = None, log_path: str | None = None):
        self.name = name
        self.log_path = log_path
        self.argv = argv
        self.env = env
        self.user = user
        self.on_line = on_line
        self.process: subprocess.Popen | None = None
        self.color = _COLORS[Child._count % len(_COLORS)]
        Child._count += 1
        self.stopping = False

    def start(self) -> Child:
        self.process = subprocess.Popen(
            self.argv, env=self.env, user=self.user, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent, bufsize=0,
        )
        threading.Thread(target=self._pump, name=f"log-{self.name}", daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.process and self.process.stdout
        out = open(self.log_path, "a") if self.log_path else sys.stdout  # noqa: SIM115 (closed below)
        prefix = f"\x1b[{self.color}m{self.name:>9} |\x1b[0m " if out.isatty() else f"{self.name:>9} | "
        try:
            for raw in iter(self.process.stdout.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                out.write(prefix + line + "\n")
                out.flush()
                if self.on_line:
                    self.on_line(line)
        finally:
            if out is not sys.stdout:
                out.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def poll(self) -> int | None:
        return self.process.poll() if self.process else None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Ask politely, then insist: nothing may outlive `make run`."""
        self.stopping = True
        if not self.process or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
