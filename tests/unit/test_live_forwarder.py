"""The live Python data plane's forwarder: each verdict carried out as the XDP action would be.

Sockets are fakes: frames go in through `FakeSocket.incoming`, and what the
forwarder sends is recorded per socket.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest

from pyvs.dataplane.live import PACKET_OUTGOING, AfPacketForwarder, FrameSocket
from pyvs.model.enums import Action, DropReason
from pyvs.packet.verdict import Verdict

PACKET_HOST = 0
ETH = bytes.fromhex("020000000001" "020000000002" "0800")
FRAME = ETH + bytes.fromhex("4500001c000100004011") + bytes(10) + bytes(8)
CHANGED = bytes.fromhex("020000000003" "020000000001" "0800") + bytes.fromhex("45000030") + bytes(44)


class FakeSocket:
    def __init__(self, ifindex: int) -> None:
        self.ifindex = ifindex
        self.incoming: list[tuple[bytes, int]] = []
        self.sent: list[bytes] = []
        self.closed = False

    def recvfrom(self, bufsize: int, flags: int = 0, /) -> tuple[bytes, Any]:
        if not self.incoming:
            raise BlockingIOError(errno.EAGAIN, "no frame")
        frame, pkttype = self.incoming.pop(0)
        return frame, (f"if{self.ifindex}", 0x0800, pkttype, 1, b"")

    def send(self, data: bytes, /) -> int:
        self.sent.append(data)
        return len(data)

    def fileno(self) -> int:
        return 100 + self.ifindex

    def close(self) -> None:
        self.closed = True


class FakeKernel:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def send(self, packet: bytes) -> int:
        self.sent.append(packet)
        return 1

    def close(self) -> None:
        self.closed = True


class Rig:
    """A forwarder on interfaces 2 and 3 whose pipeline answers `verdict_for(frame, ifindex)`."""

    def __init__(self, verdict_for: Callable[[bytes, int], Verdict]) -> None:
        self.eth0, self.eth1 = FakeSocket(2), FakeSocket(3)
        self.kernel = FakeKernel()
        self.opened: dict[int, FakeSocket] = {}
        self.seen: list[tuple[bytes, int]] = []
        self.logged: list[str] = []

        def pipeline(frame: bytes, ifindex: int) -> Verdict:
            self.seen.append((frame, ifindex))
            return verdict_for(frame, ifindex)

        def open_sender(ifindex: int) -> FrameSocket:
            sock = self.opened[ifindex] = FakeSocket(ifindex)
            return sock

        sockets: dict[int, FrameSocket] = {2: self.eth0, 3: self.eth1}
        self.forwarder = AfPacketForwarder(sockets, pipeline, self.kernel, open_sender, self.logged.append)

    def nothing_sent(self) -> bool:
        opened = any(sock.sent for sock in self.opened.values())
        return not (self.eth0.sent or self.eth1.sent or self.kernel.sent or opened)


def always(verdict: Verdict) -> Callable[[bytes, int], Verdict]:
    return lambda _frame, _ifindex: verdict


def test_tx_goes_back_out_of_the_ingress_interface() -> None:
    rig = Rig(always(Verdict(Action.TX, CHANGED)))
    rig.forwarder.handle(FRAME, 3)
    assert rig.eth1.sent == [CHANGED] and not rig.eth0.sent and not rig.kernel.sent
    assert rig.forwarder.counts.tx == 1


def test_redirect_to_another_director_interface() -> None:
    rig = Rig(always(Verdict(Action.REDIRECT, CHANGED, ifindex=3)))
    rig.forwarder.handle(FRAME, 2)
    assert rig.eth1.sent == [CHANGED] and not rig.eth0.sent and not rig.opened
    assert rig.forwarder.counts.redirected == 1


def test_redirect_elsewhere_opens_one_sender_and_keeps_it() -> None:
    rig = Rig(always(Verdict(Action.REDIRECT, CHANGED, ifindex=7)))
    rig.forwarder.handle(FRAME, 2)
    rig.forwarder.handle(FRAME, 2)
    assert list(rig.opened) == [7] and rig.opened[7].sent == [CHANGED, CHANGED]
    rig.forwarder.close()
    assert rig.opened[7].closed and rig.eth0.closed and rig.eth1.closed and rig.kernel.closed


def test_pass_unchanged_leaves_the_frame_to_the_kernel_copy() -> None:
    rig = Rig(lambda frame, _ifindex: Verdict(Action.PASS, frame))
    rig.forwarder.handle(FRAME, 2)
    assert rig.nothing_sent() and rig.forwarder.counts.passed == 1


def test_pass_changed_hands_the_ip_packet_to_the_kernel() -> None:
    rig = Rig(always(Verdict(Action.PASS, CHANGED)))
    rig.forwarder.handle(FRAME, 2)
    assert rig.kernel.sent == [CHANGED[14:]] and not rig.eth0.sent
    assert rig.forwarder.counts.to_kernel == 1


@pytest.mark.parametrize("action", [Action.DROP, Action.ABORTED])
def test_drop_sends_nothing(action: Action) -> None:
    rig = Rig(always(Verdict(action, FRAME, DropReason.NO_REAL_SERVER)))
    rig.forwarder.handle(FRAME, 2)
    assert rig.nothing_sent() and rig.forwarder.counts.dropped == 1


def test_receive_skips_outgoing_frames_and_keeps_order() -> None:
    rig = Rig(lambda frame, _ifindex: Verdict(Action.PASS, frame))
    first, second = FRAME + b"1", FRAME + b"2"
    rig.eth0.incoming = [(first, PACKET_HOST), (CHANGED, PACKET_OUTGOING), (second, PACKET_HOST)]
    assert rig.forwarder.receive(2) == 3
    assert rig.seen == [(first, 2), (second, 2)]
    assert rig.forwarder.counts.received == 2


def test_receive_reads_at_most_a_batch() -> None:
    rig = Rig(lambda frame, _ifindex: Verdict(Action.PASS, frame))
    rig.eth1.incoming = [(FRAME, PACKET_HOST)] * 5
    assert rig.forwarder.receive(3, limit=2) == 2
    assert len(rig.eth1.incoming) == 3


def test_a_failing_send_is_counted_and_logged_once() -> None:
    rig = Rig(always(Verdict(Action.TX, CHANGED)))

    def refuse(_data: bytes, /) -> int:
        raise OSError(errno.ENOBUFS, "No buffer space available")

    rig.eth0.send = refuse  # type: ignore[method-assign]
    rig.forwarder.handle(FRAME, 2)
    rig.forwarder.handle(FRAME, 2)
    assert rig.forwarder.counts.errors == 2 and rig.forwarder.counts.tx == 0
    assert len(rig.logged) == 1 and "No buffer space" in rig.logged[0]
