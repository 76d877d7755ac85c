"""The environment of a child process that must import this very pyvs.

A child started with `sys.executable` finds pyvs where its interpreter's
site-packages has it; when this pyvs runs from a source tree (the tests do),
that may be another copy. `child_env()` puts this package's parent directory
first on PYTHONPATH, so the child imports the same code as its parent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyvs

PACKAGE_ROOT = str(Path(pyvs.__file__).resolve().parent.parent)


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with PACKAGE_ROOT first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != PACKAGE_ROOT]
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *parts])
    return env
