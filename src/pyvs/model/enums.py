"""Enumerations shared with the BPF programs.

Every IntEnum here has a twin `enum lb_*` in bpf/lb_shared.h; tests/abi checks
the values against the BTF of the compiled object.
"""

from __future__ import annotations

import enum
import socket


class Protocol(enum.IntEnum):
    """IP protocol of a virtual service (ipvsadm -t / -u)."""

    TCP = socket.IPPROTO_TCP
    UDP = socket.IPPROTO_UDP

    @property
    def label(self) -> str:
        return self.name


class FwdMethod(enum.IntEnum):
    """Forwarding method, numbered as IPVS's IP_VS_CONN_F_* (lb_fwd_method)."""

    MASQ = 0
    LOCALNODE = 1
    TUNNEL = 2
    DROUTE = 3

    @property
    def label(self) -> str:
        """The word ipvsadm prints in the Forward column."""
        return {0: "Masq", 1: "Local", 2: "Tunnel", 3: "Route"}[self.value]


class Scheduler(enum.IntEnum):
    """Scheduling algorithm of a service (lb_sched_kind); every member is implemented."""

    RR = 0
    WRR = 1
    SH = 2
    DH = 3
    MH = 4
    FO = 5
    WLC = 6
    LC = 7
    SED = 8
    NQ = 9
    OVF = 10
    TWOS = 11
    LBLC = 12
    LBLCR = 13

    @property
    def label(self) -> str:
        return self.name.lower()


class SvcFlag(enum.IntEnum):
    """Flags of a service, valued as IPVS's IP_VS_SVC_F_* (lb_svc_flag)."""

    PERSISTENT = 0x01
    ONEPACKET = 0x04  # ipvsadm -o
    SCHED1 = 0x08  # sh-fallback, mh-fallback (flag-1)
    SCHED2 = 0x10  # sh-port, mh-port (flag-2)
    SCHED3 = 0x20  # flag-3


SCHED_FLAGS_MASK = SvcFlag.SCHED1 | SvcFlag.SCHED2 | SvcFlag.SCHED3


class FlowState(enum.IntEnum):
    """Connection state as IPVS tracks it for input-only (tunnel) flows (lb_flow_state)."""

    NONE = 0
    ESTABLISHED = 1
    SYN_RECV = 2
    FIN_WAIT = 3
    TIME_WAIT = 4
    CLOSE = 5
    UDP = 6


FLOW_STATES = len(FlowState)  # entries of lb_timeouts (LB_FLOW_MAX)

# Idle timeout of a flow in each state, in seconds: IPVS's defaults (lb_flow_timeout).
FLOW_TIMEOUT_S = {
    FlowState.NONE: 2,
    FlowState.ESTABLISHED: 900,
    FlowState.SYN_RECV: 60,
    FlowState.FIN_WAIT: 120,
    FlowState.TIME_WAIT: 120,
    FlowState.CLOSE: 10,
    FlowState.UDP: 300,
}
NSEC_PER_SEC = 1_000_000_000
FRAG_TIMEOUT_S = 30  # how long a datagram's later fragments follow its first (LB_FRAG_TIMEOUT_S)


class DropReason(enum.IntEnum):
    """Why the director dropped a frame; index of the lb_drops counters (lb_drop_reason)."""

    NONE = 0
    BAD_IP_HEADER = 1
    BAD_IP_CHECKSUM = 2
    FRAGMENT = 3
    BAD_L4_HEADER = 4
    TTL_EXCEEDED = 5
    NO_REAL_SERVER = 6
    NO_HEADROOM = 7
    NO_ROUTE = 8
    FRAG_NEEDED = 9
    FLOW_TABLE_FULL = 10
    FLOW_BUSY = 11  # another CPU was replacing the flow's entry at that instant
    REAL_SERVER_GONE = 12  # a packet of a connection whose real server was removed


class Setting(enum.IntEnum):
    """pyvs's own switches: index of lb_settings (lb_setting), each 0 or 1."""

    SKB_MODE = 0  # attached in generic mode: the kernel finishes offloaded checksums
    DRAIN = 1  # connections of a removed real server go on to it until they end


class IcmpCounter(enum.IntEnum):
    """ICMP errors about virtual services' flows: index of lb_icmp (lb_icmp_counter)."""

    FWD_UNREACH = 0  # destination unreachable other than fragmentation needed, forwarded
    FWD_FRAG_NEEDED = 1
    FWD_TIME_EXCEEDED = 2
    PASSED = 3  # no flow and no hashing scheduler to place it: passed to the kernel


class Action(enum.IntEnum):
    """XDP verdicts, as the kernel numbers them."""

    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4


class DecapCounter(enum.IntEnum):
    """Counters of the real-server decapsulation program (lb_decap_counter)."""

    PACKETS = 0
    BYTES = 1
    DROPPED = 2
