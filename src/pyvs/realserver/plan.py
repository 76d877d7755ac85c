"""What a real server needs, and what is missing from what it has. Pure: no I/O.

A tunnel-mode real server needs three things (SEED.md, "Real server"):
1. decapsulation: the kernel's tunl0 where the ipip module exists, otherwise
   pyvs's XDP decap program on the interface the IPIP packets arrive on;
2. the VIP as a local address: on tunl0 (as the seed does) or on lo;
3. ARP silence about the VIP (arp_ignore=1, arp_announce=2) and reverse-path
   filtering that lets the decapsulated packets in;
4. an MSS clamp on the SYN-ACKs sent from the VIPs, since clients' segments
   reach the real server 20 bytes larger (inside IPIP) than they left.

The kernel combines each of arp_ignore, arp_announce and rp_filter from the
"all" entry and the interface's own entry by taking the maximum, so a value
counts only if it is set on "all" as well as on the interface.

rp_filter: a decapsulated packet carries the client's address as source and
arrives on tunl0 (kernel decapsulation) or on the interface the XDP program
decapsulates on. Strict filtering (1) drops it unless the route back to the
client leaves by that same device, which is never true of tunl0, and not true
of the interface when the default route leaves by another one. Loose (2) and
off (0) let it in. Only what is strict on that path is changed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyvs.realserver.mss import MssClamp, mss_problems


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
    # rp_filter on the decapsulated packets' path: rp_filter_fixes(), only where strict.
    unique: dict[str, SysctlSetting] = {}
    for setting in settings:
        unique.setdefault(setting.path, setting)
    return list(unique.values())


RP_STRICT = 1
RP_LOOSE = 2


def arrival_device(mode: DecapMode, iface: str) -> str:
    """The device decapsulated packets arrive on, the one rp_filter judges them by."""
    return TUNL0 if mode is DecapMode.KERNEL else iface


def rp_filter_paths(mode: DecapMode, iface: str) -> list[str]:
    """The /proc/sys files whose larger value is rp_filter on the decapsulated packets' path."""
    return [f"net/ipv4/conf/{dev}/rp_filter" for dev in ("all", arrival_device(mode, iface))]


def _sysctl_int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def _rp_strict(
    mode: DecapMode, iface: str, sysctls: Mapping[str, str | None], default_route_iface: str | None,
) -> tuple[int, int] | None:
    """(all, device) values when strict filtering drops decapsulated packets, else None."""
    all_path, dev_path = rp_filter_paths(mode, iface)
    all_value, dev_value = _sysctl_int(sysctls.get(all_path)), _sysctl_int(sysctls.get(dev_path))
    if all_value is None or dev_value is None or max(all_value, dev_value) != RP_STRICT:
        return None
    if mode is DecapMode.XDP and default_route_iface == iface:
        return None  # the route back to clients (the default route) leaves by the arrival device
    return all_value, dev_value


def rp_filter_fixes(
    mode: DecapMode, iface: str, sysctls: Mapping[str, str | None], default_route_iface: str | None,
) -> list[SysctlSetting]:
    """What `up` sets so that strict rp_filter stops dropping decapsulated packets (often nothing).

    tunl0 carries only decapsulated packets: off (0), as LVS-TUN guides set it.
    The physical interface carries everything else too: loose (2). "all" is
    lowered to loose (2) rather than off, so that other interfaces keep
    some reverse-path filtering.
    """
    strict = _rp_strict(mode, iface, sysctls, default_route_iface)
    if strict is None:
        return []
    all_value, dev_value = strict
    device = arrival_device(mode, iface)
    fixes = []
    if dev_value == RP_STRICT:
        fixes.append(SysctlSetting(device, "rp_filter", 0 if device == TUNL0 else RP_LOOSE))
    if all_value == RP_STRICT:
        fixes.append(SysctlSetting("all", "rp_filter", RP_LOOSE))
    return fixes


def rp_filter_problem(
    mode: DecapMode, iface: str, sysctls: Mapping[str, str | None], default_route_iface: str | None,
) -> str | None:
    """A sentence naming the strict rp_filter that drops decapsulated packets, or None."""
    strict = _rp_strict(mode, iface, sysctls, default_route_iface)
    if strict is None:
        return None
    all_value, dev_value = strict
    device = arrival_device(mode, iface)
    values = (f"net.ipv4.conf.all.rp_filter={all_value}, net.ipv4.conf.{device}.rp_filter={dev_value}, "
              "the kernel applies the larger")
    if mode is DecapMode.KERNEL:
        why = ("packets decapsulated by tunl0 arrive on tunl0 with the client's source address, "
               "and the route back to the client never leaves by tunl0: they are dropped")
    else:
        where = f"leaves by {default_route_iface}" if default_route_iface else "is missing"
        why = (f"packets the XDP program decapsulates arrive on {device} with the client's source address, "
               f"and the default route {where}: those whose route back does not leave by {device} "
               "are dropped")
    return f"rp_filter on {device} is strict ({values}): {why}"


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
    default_route_iface: str | None = None
    mss_clamp: MssClamp | None = None  # the clamp found in nftables, if any
    mss_wanted: int | None = None  # the clamp the VIPs' SYN-ACKs need; None: not checked (`up --mss off`)


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
    rp_problem = rp_filter_problem(mode, iface, observed.sysctls, observed.default_route_iface)
    if rp_problem:
        missing.append(rp_problem)
    if observed.mss_wanted is not None:
        missing += mss_problems(vips, observed.mss_wanted, observed.mss_clamp)
    return missing
