"""Start and stop one real local process (Redis, the broker, Varnish, our own services)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from core.errors import ServiceError


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux: read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found.extend(children)
        frontier.extend(children)
    return found


def rss_bytes(pids: Sequence[int]) -> int:
    """Resident memory of these processes together (Linux: VmRSS from /proc)."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # gone since it was listed
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time used so far by these processes (Linux: from /proc)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone since it was listed
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (one at a time, the kernel may hand out a port it just
    gave back: all are held until all are chosen)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now (a readiness probe)."""
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


class Started:
    """``with thing:`` starts it, and stops it whatever happens, a failed start included."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ManagedProcess(Started):
    """A child process with its output in ``log``; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        ready: Callable[[], bool],
        env: Mapping[str, str] | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.ready = ready
        self.env = dict(env) if env is not None else None
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._terminated = False

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ServiceError(f"{self.name} is not running")
        return self.process.pid

    def start(self) -> None:
        self.launch()
        self.wait_until_ready()

    def launch(self) -> None:
        """Start the process without waiting for it to be ready (:meth:`wait_until_ready`):
        several launched at once get ready together."""
        if self.alive():
            raise ServiceError(f"{self.name} is already running")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not our children
            )
        self._terminated = False

    def wait_until_ready(self) -> None:
        """Wait up to ``timeout`` s from now for the launched process to be ready; stopped and
        raising :class:`ServiceError` (with its last log lines) if it exits or is not."""
        if self.process is None:
            raise ServiceError(f"{self.name} was not launched")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with {self.process.returncode}; {self.tail()}"
                )
            if self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"{self.name} not ready after {self.timeout:.0f} s; {self.tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code (None: it was not running)."""
        self.terminate()
        process, self.process = self.process, None
        if process is None:
            return None
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(timeout)

    def terminate(self) -> None:
        """SIGTERM without waiting (:meth:`stop` then waits): several terminated first stop
        together. Sent once: a second SIGTERM makes some servers skip their graceful stop."""
        if self.alive() and not self._terminated:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            self._terminated = True

    def kill(self) -> None:
        """SIGKILL the process and everything it started, as a crash of the host would.

        Some services (Pushpin's runner) start helpers in sessions of their own, beyond the
        process group: those are found through their parents.
        """
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        family = [process.pid, *descendants(process.pid)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()

    def cpu_seconds(self) -> float:
        """CPU time used by the process and everything it started that is still running."""
        if not self.alive():
            return 0.0
        return cpu_seconds([self.pid, *descendants(self.pid)])

    def rss_bytes(self) -> int:
        """Resident memory of the process and everything it started that is still running."""
        if not self.alive():
            return 0
        return rss_bytes([self.pid, *descendants(self.pid)])

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "no log"
        return "last log lines:\n" + "\n".join(text)
