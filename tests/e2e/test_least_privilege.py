"""pyvs keeps its pinned state where root alone can change it, and opens no network socket.

Each test uses a bpffs of its own, mounted on a temporary directory (never
over /sys/fs/bpf) and named with PYVS_BPF_ROOT, and a namespace of its own.

- A pin directory, or a directory between bpffs' mount root and it, that is
  another user's or that group or others may write in, is refused by
  `pyvsadm`, `pyvs director attach` (both data planes) and `pyvs realserver
  up --decap xdp` with one line naming it and what is wrong, and nothing is
  created or changed under the mount; so is a pin directory on no bpffs.
- What pyvs creates there is root's: directories mode 0700, maps 0600.
- `pyvsadm -L -n` run by user nobody gets one line, no traceback.
- After `pyvs director attach` nothing listens on a TCP or UDP socket in the
  director's namespace (`ss -lntu`), and no raw IP socket receives anything.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyvs.dataplane import pins
from pyvs.lab.commands import pyvs_argv, pyvs_env, pyvsadm_argv
from pyvs.lab.netns import Namespace, Topology, run
from pyvs.lab.seed import release_pyvs_state
from pyvs.netns import identity_of
from tests.capabilities import require

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

NOBODY = 65534
OWNED = ("it is owned by uid 65534, not by root (who owns it can move pyvs's state away): "
         "remove it, or chown it to root")
WRITABLE = "its mode 0777 lets group or others write in it (they can move pyvs's state away): chmod go-w it"


@pytest.fixture
def bpffs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A bpffs of the test's own on tmp_path/bpf; PYVS_BPF_ROOT is its pyvs/ (for this
    process and its children). Unmounted at the end, which frees whatever is pinned."""
    mount = tmp_path / "bpf"
    mount.mkdir()
    run(["mount", "-t", "bpf", "bpf", str(mount)])
    monkeypatch.setenv("PYVS_BPF_ROOT", str(mount / "pyvs"))
    try:
        yield mount
    finally:
        run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def director(bpffs: Path) -> Iterator[Namespace]:
    """A namespace with a veth pair (veth0, veth1) inside, its pyvs state removed at the end."""
    with Topology(prefix="pyvs-priv") as topology:
        ns = topology.add_namespace("director")
        topology.add_veth(ns, "veth0", ns, "veth1")
        topology.on_close(lambda: release_pyvs_state(ns, [[*pyvs_argv(), "director", "detach", "veth0"],
                                                          [*pyvs_argv(), "realserver", "down"]]))
        yield ns


def tree(root: Path) -> list[tuple[str, int, int, str]]:
    """Every path under root (root included): owner, mode bits, and file type."""
    found = []
    for path in [root, *sorted(root.rglob("*"))]:
        info = os.lstat(path)
        kind = "d" if stat.S_ISDIR(info.st_mode) else "l" if stat.S_ISLNK(info.st_mode) else "f"
        found.append((str(path.relative_to(root)), info.st_uid, stat.S_IMODE(info.st_mode), kind))
    return found


def pyvs(ns: Namespace, *args: str) -> subprocess.CompletedProcess[str]:
    return ns.run_pyvs([*pyvs_argv(), *args], check=False, timeout=60)


def pyvsadm(ns: Namespace, *args: str) -> subprocess.CompletedProcess[str]:
    return ns.run_pyvs([*pyvsadm_argv(), *args], check=False, timeout=60)


def refusals(ns: Namespace) -> list[tuple[int, str, str]]:
    """What each command that opens the state answers: (exit status, stdout, stderr)."""
    require("needs_nft")
    commands = [
        [*pyvsadm_argv(), "-L", "-n"],
        [*pyvsadm_argv(), "-A", "-t", "10.2.2.3:80", "-s", "rr"],
        [*pyvs_argv(), "director", "attach", "veth0"],
        [*pyvs_argv(), "director", "attach", "--dataplane", "python", "veth0"],
        [*pyvs_argv(), "realserver", "up", "--vip", "10.2.2.3", "--decap", "xdp", "--iface", "veth1"],
    ]
    outcomes = []
    for argv in commands:
        done = ns.run_pyvs(argv, check=False, timeout=60)
        outcomes.append((done.returncode, done.stdout, done.stderr))
    return outcomes


def expected(line: str) -> list[tuple[int, str, str]]:
    """refusals() when every command refuses with `line`: pyvsadm's 2, pyvs's 1."""
    adm = (2, "", f"pyvsadm: cannot open the pyvs data plane: {line}\n")
    own = (1, "", f"pyvs: {line}\n")
    return [adm, adm, own, own, own]


@pytest.mark.parametrize(("owner", "mode", "why"), [(NOBODY, 0o700, OWNED), (0, 0o777, WRITABLE)],
                         ids=["owned-by-nobody", "mode-0777"])
def test_a_base_directory_others_can_change_is_refused(
        bpffs: Path, director: Namespace, owner: int, mode: int, why: str) -> None:
    base = bpffs / "pyvs"
    base.mkdir()
    os.chown(base, owner, owner)
    base.chmod(mode)
    before = tree(bpffs)
    assert refusals(director) == expected(f"refusing {base}: {why}")
    assert tree(bpffs) == before


def test_a_namespace_directory_others_can_write_in_is_refused(bpffs: Path, director: Namespace) -> None:
    assert pyvsadm(director, "-A", "-t", "10.2.2.3:80", "-s", "rr").returncode == 0
    netns_dir = pins.netns_dir(identity_of(director.path))
    netns_dir.chmod(0o777)
    before = tree(bpffs)
    assert refusals(director) == expected(f"refusing {netns_dir}: {WRITABLE}")
    assert tree(bpffs) == before
    netns_dir.chmod(0o700)
    assert pyvsadm(director, "-S", "-n").stdout == "-A -t 10.2.2.3:80 -s rr\n"


def test_a_symbolic_link_is_refused(bpffs: Path, director: Namespace, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (bpffs / "pyvs").symlink_to(elsewhere)
    before = tree(bpffs)
    done = pyvsadm(director, "-L", "-n")
    assert (done.returncode, done.stderr) == (
        2, f"pyvsadm: cannot open the pyvs data plane: refusing {bpffs / 'pyvs'}: "
           "it is a symbolic link, not a directory\n")
    assert tree(bpffs) == before and list(elsewhere.iterdir()) == []


def test_what_pyvs_creates_is_roots_alone(bpffs: Path, director: Namespace) -> None:
    assert pyvsadm(director, "-A", "-t", "10.2.2.3:80", "-s", "rr").returncode == 0
    assert pyvs(director, "director", "attach", "veth0").returncode == 0
    director.addr_add("veth1", "10.3.3.3/24")
    up = pyvs(director, "realserver", "up", "--vip", "10.2.2.3", "--decap", "xdp", "--iface", "veth1")
    assert up.returncode == 0, up.stderr
    found = tree(bpffs)
    mine = [entry for entry in found if entry[0].startswith("pyvs")]
    netns_dir = pins.netns_dir(identity_of(director.path))
    assert {entry[0] for entry in mine if entry[3] == "d"} == {
        "pyvs", str(netns_dir.relative_to(bpffs)), str((netns_dir / "decap").relative_to(bpffs))}
    assert any(entry[0].endswith("/decap/lb_decap_vips") for entry in mine)
    private = {"d": 0o700, "f": 0o600}
    assert [entry for entry in mine if (entry[1], entry[2]) != (0, private.get(entry[3]))] == []
    assert found[0] == (".", 0, 0o1777, "d")  # bpffs' root as mounted


@pytest.fixture
def root_dir_open_to_all() -> Iterator[None]:
    """A root directory others may traverse, as on any installed system; a chroot made by
    `mktemp -d` (CI's fresh Debian root) has mode 0700, where no other user can start
    Python at all. Restored afterwards."""
    mode = os.stat("/").st_mode & 0o7777
    if mode & 0o005 != 0o005:
        os.chmod("/", mode | 0o005)
    try:
        yield
    finally:
        os.chmod("/", mode)


def test_an_unprivileged_user_gets_one_line(bpffs: Path, director: Namespace,
                                            root_dir_open_to_all: None) -> None:
    assert pyvsadm(director, "-A", "-t", "10.2.2.3:80", "-s", "rr").returncode == 0
    before = tree(bpffs)
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    done = run(director.nsenter_argv([*as_nobody, *pyvsadm_argv(), "-L", "-n"]), check=False, env=pyvs_env())
    netns_dir = pins.netns_dir(identity_of(director.path))
    line = f"pyvsadm: cannot open the pyvs data plane: {netns_dir}: Permission denied (you must be root)"
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")
    assert tree(bpffs) == before


@pytest.mark.parametrize("dataplane", ["xdp", "python"])
def test_nothing_listens_after_attach(director: Namespace, dataplane: str) -> None:
    if dataplane == "python":
        require("needs_nft")
    assert pyvs(director, "director", "attach", "--dataplane", dataplane, "veth0").returncode == 0
    assert pyvsadm(director, "-A", "-t", "10.2.2.3:80", "-s", "rr").returncode == 0
    assert director.run(["ss", "-H", "-l", "-n", "-t", "-u"]).stdout == ""
    # Raw IP sockets: the Python data plane's hand-off to the kernel is IPPROTO_RAW (255),
    # which raw(7) makes send-only: it receives nothing.
    raw = director.run(["ss", "-H", "-l", "-n", "-w"]).stdout.split("\n")[:-1]
    assert [line.split()[3] for line in raw] == (["0.0.0.0:255"] if dataplane == "python" else [])


def test_a_base_on_no_bpffs_is_refused_and_not_made(director: Namespace, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("PYVS_BPF_ROOT", str(plain / "pyvs"))
    done = pyvsadm(director, "-A", "-t", "10.2.2.3:80", "-s", "rr")
    netns_dir = plain / "pyvs" / pins.netns_dir(identity_of(director.path)).name
    mount_root = next(p for p in [plain, *plain.parents] if os.path.ismount(p))
    why = f"{mount_root} is not where a bpffs is mounted (mount -t bpf bpf DIR, and name a directory in it)"
    line = f"pyvsadm: cannot open the pyvs data plane: refusing {netns_dir}: {why}"
    assert (done.returncode, done.stderr) == (2, line + "\n")
    assert list(plain.iterdir()) == []
