"""Running `goodsflow` as a user does: a separate process, its output captured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def goodsflow(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``env`` adds to (or overrides) this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "goodsflow", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


@contextmanager
def running_api(log_dir: Path, tokens: str, port: int) -> Iterator[str]:
    """`goodsflow api` as a process with these tokens; yields its base URL once /health
    answers (raises with the process's log if it never does)."""
    env = {**os.environ, "GOODSFLOW_API__TOKENS": tokens}
    log_path = log_dir / "api.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "goodsflow", "api", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        try:
            while True:
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()) from None
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)
