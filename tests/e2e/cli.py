"""Running `goodsflow` as a user does: a separate process, its output captured."""

from __future__ import annotations

import os
import subprocess
import sys


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
