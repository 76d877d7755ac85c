"""The sans-IO pipeline and the status types load without the adapter: importing them
loads neither pyvs.dataplane nor libbpf (a host without libbpf can run the spec)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyvs.child_env import child_env

PURE_MODULES = ["pyvs.packet.pipeline", "pyvs.packet.tables", "pyvs.model.status", "pyvs.cli.render"]
CHECK = """
import sys, importlib
importlib.import_module({module!r})
adapter = sorted(m for m in sys.modules if m == "pyvs.dataplane" or m.startswith("pyvs.dataplane."))
with open("/proc/self/maps") as maps:
    libbpf = [line.split()[-1] for line in maps if "libbpf" in line]
print(adapter, libbpf)
"""


@pytest.mark.parametrize("module", PURE_MODULES)
def test_importing_loads_no_adapter_and_no_libbpf(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", CHECK.format(module=module)], capture_output=True, text=True,
                          env=child_env(), check=True)
    assert done.stdout.strip() == "[] []"
