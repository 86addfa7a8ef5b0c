"""Start, identify and stop the stack's server processes by the pids it recorded.

A pid file holds the pid and the process's start time (from /proc), so ``down`` never
signals a process that merely reused a recorded pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name in field 2 may hold spaces, so split after ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass(frozen=True)
class RecordedProcess:
    pid: int
    start_ticks: int

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.start_ticks and not _is_zombie(self.pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def spawn(cmd: list[str], log_file: Path, cwd: Path, pid_file: Path) -> RecordedProcess:
    """Start ``cmd`` detached (own session), output to ``log_file``; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ticks = _start_ticks(proc.pid)
    recorded = RecordedProcess(proc.pid, ticks if ticks is not None else -1)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps({"pid": recorded.pid, "start_ticks": recorded.start_ticks}))
    return recorded


def recorded(pid_file: Path) -> RecordedProcess | None:
    """The process recorded in ``pid_file`` if it is still the one we started."""
    try:
        data = json.loads(pid_file.read_text())
        proc = RecordedProcess(int(data["pid"]), int(data["start_ticks"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return proc if proc.alive() else None


def stop(pid_file: Path, timeout_s: float = 60.0) -> bool:
    """Stop the recorded process (SIGTERM, then SIGKILL after ``timeout_s``).

    Returns True when a process was stopped, False when none of ours was running.
    """
    proc = recorded(pid_file)
    if proc is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while proc.alive() and time.monotonic() < deadline:
        _reap(proc.pid)
        time.sleep(0.2)
    if proc.alive():
        os.kill(proc.pid, signal.SIGKILL)
        while proc.alive():
            _reap(proc.pid)
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # When this process is the parent (tests that start and stop in one process), collect
    # the exit status so the child does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
