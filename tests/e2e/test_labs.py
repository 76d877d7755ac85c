"""Named labs: two kept at once, each refused while it is up, each brought down alone.

Runs `pyvs lab seed --keep --name NAME`, `pyvs lab list` and `pyvs lab down
NAME` as a user would (subprocesses), with names unique to this run.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyvs.lab import experiment
from pyvs.lab.commands import pyvs_argv, pyvs_env
from pyvs.lab.netns import LabError, Namespace, unique_suffix

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]


def pyvs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*pyvs_argv(), *args], capture_output=True, text=True, env=pyvs_env(), timeout=120)


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """Two lab names of this run; whatever is left of either lab is removed afterwards."""
    suffix = unique_suffix()
    pair = (f"ta-{suffix}", f"tb-{suffix}")
    try:
        yield pair
    finally:
        for name in pair:
            with contextlib.suppress(LabError):
                experiment.lab_down(name)


def up(name: str) -> list[str]:
    return experiment.existing_namespaces(name)


def test_two_named_labs_side_by_side(names: tuple[str, str]) -> None:
    a, b = names
    for name in names:
        done = pyvs("lab", "seed", "--keep", "--name", name)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"lab {name} kept: pyvs-{name}-client, pyvs-{name}-router, pyvs-{name}-director" in done.stdout
    assert up(a) == [f"pyvs-{a}-{role}" for role in ("client", "router", "director", "real1")]
    assert up(b) == [f"pyvs-{b}-{role}" for role in ("client", "router", "director", "real1")]

    listed = {line.split("\t")[0]: line for line in pyvs("lab", "list").stdout.splitlines()}
    assert listed[a] == f"{a}\t{' '.join(up(a))}"
    assert listed[b] == f"{b}\t{' '.join(up(b))}"

    # A lab whose namespaces exist is refused, and nothing changes.
    state = experiment.state_path(a).read_text()
    again = pyvs("lab", "seed", "--name", a)
    assert again.returncode == 1
    assert again.stderr == (f"pyvs: lab {a} is up already ({', '.join(up(a))}): remove it with "
                            f"`pyvs lab down {a}`, or give this one another --name\n")
    assert experiment.state_path(a).read_text() == state
    assert len(up(a)) == 4

    # Down with one name takes that lab only; the other still serves.
    down = pyvs("lab", "down", a)
    assert down.returncode == 0, down.stderr
    assert up(a) == [] and not experiment.state_path(a).exists()
    assert len(up(b)) == 4
    client = Namespace(f"pyvs-{b}-client")
    page = client.run(["curl", "-sS", "--max-time", "10", "http://10.2.2.3/"], check=False)
    assert page.stdout.strip() == "served by 10.3.3.3", page.stderr
    assert a not in pyvs("lab", "list").stdout

    assert pyvs("lab", "down", b).returncode == 0
    assert up(b) == [] and not experiment.state_path(b).exists()
    gone = pyvs("lab", "down", b)
    assert (gone.returncode, gone.stderr.startswith(f"pyvs: no lab named {b} (kept labs: ")) == (1, True)


def test_a_lab_name_must_make_namespace_names(tmp_path: Path) -> None:
    done = pyvs("lab", "seed", "--name", "Not/A/Name")
    assert (done.returncode, done.stderr) == (
        2, "pyvs: illegal lab name 'Not/A/Name': 1 to 24 of a-z, 0-9 and '-', not starting with '-'\n")
