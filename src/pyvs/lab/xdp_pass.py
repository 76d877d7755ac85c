"""An XDP program that passes every frame, for the lab's veth peers of XDP senders.

Frames that an XDP program transmits (XDP_TX) or redirects into a veth reach
the peer only if the peer's receive side runs in NAPI mode. GRO on the peer
is documented to do that, but on the kernels of this project's machines
(6.18) it does not: the frames vanish without a counter. An XDP program on
the peer does it on every kernel with native veth XDP, so the lab attaches
this one (`return XDP_PASS`) to the router's side of the director's link.
The program is three lines of C, built with clang into the lab's work
directory and attached with `ip link set ... xdpdrv obj`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pyvs.lab.netns import LabError, Namespace, run

SOURCE = """\
/* XDP_PASS for every frame: puts a veth's receive side into NAPI mode. */
__attribute__((section("xdp"), used)) int xdp_pass(void *ctx)
{
\treturn 2; /* XDP_PASS */
}
__attribute__((section("license"), used)) char _license[] = "GPL";
"""


def build_xdp_pass(directory: Path) -> Path:
    """Compile the program into `directory` (once); return the object's path."""
    obj = directory / "xdp_pass.o"
    if obj.exists():
        return obj
    clang = shutil.which("clang")
    if clang is None:
        raise LabError("clang not found: the lab needs it to build its XDP_PASS program")
    source = directory / "xdp_pass.c"
    source.write_text(SOURCE)
    run([clang, "-O2", "-target", "bpf", "-c", str(source), "-o", str(obj)])
    return obj


def attach_xdp_pass(ns: Namespace, ifname: str, directory: Path) -> None:
    """Attach the XDP_PASS program (native mode) to `ifname` in `ns`."""
    obj = build_xdp_pass(directory)
    ns.ip("link", "set", "dev", ifname, "xdpdrv", "obj", str(obj), "sec", "xdp")
