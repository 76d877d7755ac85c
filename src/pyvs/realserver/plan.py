"""What a real server needs, and what is missing from what it has. Pure: no I/O.

A tunnel-mode real server needs three things (SEED.md, "Real server"):
1. decapsulation: the kernel's tunl0 where the ipip module exists, otherwise
   pyvs's XDP decap program on the interface the IPIP packets arrive on;
2. the VIP as a local address: on tunl0 (as the seed does) or on lo;
3. ARP silence about the VIP (arp_ignore=1, arp_announce=2) and reverse-path
   filtering that lets the decapsulated packets in.

The kernel combines each of arp_ignore, arp_announce and rp_filter from the
"all" entry and the interface's own entry by taking the maximum, so a value
counts only if it is set on "all" as well as on the interface.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class DecapMode(enum.Enum):
    """How IPIP packets get decapsulated on this real server."""

    KERNEL = "tunl0"  # the ipip module's fallback device
    XDP = "xdp"  # pyvs's XDP decap program on the receiving interface


TUNL0 = "tunl0"


@dataclass(frozen=True, slots=True)
class SysctlSetting:
    """net.ipv4.conf.<iface>.<key> = value."""

    iface: str
    key: str
    value: int

    @property
    def path(self) -> str:
        """The file under /proc/sys."""
        return f"net/ipv4/conf/{self.iface}/{self.key}"

    def mismatch(self, current: str | None) -> str | None:
        """A sentence when `current` is not the wanted value, else None."""
        if current is None:
            return f"{self.key} on {self.iface} does not exist, should be {self.value}"
        if current.strip() != str(self.value):
            return f"{self.key} on {self.iface} is {current.strip()}, should be {self.value}"
        return None


def desired_sysctls(mode: DecapMode, iface: str) -> list[SysctlSetting]:
    """The sysctls `up` sets, in the order it sets them."""
    settings = []
    for dev in ("lo", "all", iface):
        settings += [SysctlSetting(dev, "arp_ignore", 1), SysctlSetting(dev, "arp_announce", 2)]
    settings.append(SysctlSetting("default", "rp_filter", 1))  # the seed's line, for devices made later
    if mode is DecapMode.KERNEL:
        # Packets decapsulated by tunl0 arrive "on tunl0", but the route back to
        # the client leaves by another interface: strict rp_filter would drop
        # them. The kernel applies max(all, tunl0), so both must be 0.
        settings += [SysctlSetting(TUNL0, "rp_filter", 0), SysctlSetting("all", "rp_filter", 0)]
    # With XDP decap the packet stays on `iface`, where the route back to the
    # client normally leaves too, so rp_filter needs no change there.
    unique: dict[str, SysctlSetting] = {}
    for setting in settings:
        unique.setdefault(setting.path, setting)
    return list(unique.values())


def vip_device(mode: DecapMode) -> str:
    """Where the VIP lives: on tunl0 like the seed, or on lo when XDP decapsulates."""
    return TUNL0 if mode is DecapMode.KERNEL else "lo"


@dataclass(frozen=True, slots=True)
class DecapView:
    """What the XDP decap program on an interface accepts (from decap_status)."""

    attached: bool
    vips: frozenset[str] = frozenset()
    local_addrs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Observed:
    """The facts `check` compares with the plan; addresses are plain strings."""

    sysctls: Mapping[str, str | None]  # /proc/sys path -> value (None: no such file)
    addresses: Mapping[str, frozenset[str]]  # device -> its IPv4 addresses
    tunl0_exists: bool = False
    tunl0_up: bool = False
    decap: DecapView | None = None
    iface_addresses: frozenset[str] = field(default_factory=frozenset)


def missing_pieces(mode: DecapMode, vips: Sequence[str], iface: str, observed: Observed) -> list[str]:
    """Every piece the real server lacks, in words; empty when it is ready."""
    missing = []
    if mode is DecapMode.KERNEL:
        if not observed.tunl0_exists:
            missing.append("no decapsulation: tunl0 absent (the kernel has no ipip module)")
        elif not observed.tunl0_up:
            missing.append("tunl0 is down")
    else:
        decap = observed.decap
        if decap is None or not decap.attached:
            missing.append(f"no decapsulation: tunl0 absent and no pyvs XDP decap program on {iface}")
        else:
            missing += [
                f"pyvs XDP decap program on {iface} does not accept VIP {vip}"
                for vip in vips if vip not in decap.vips
            ]
            missing += [
                f"pyvs XDP decap program on {iface} does not accept outer destination {addr}"
                for addr in sorted(observed.iface_addresses) if addr not in decap.local_addrs
            ]
    device = vip_device(mode)
    held = observed.addresses.get(device, frozenset())
    missing += [f"VIP {vip} is not on {device}" for vip in vips if vip not in held]
    for setting in desired_sysctls(mode, iface):
        problem = setting.mismatch(observed.sysctls.get(setting.path))
        if problem:
            missing.append(problem)
    return missing
