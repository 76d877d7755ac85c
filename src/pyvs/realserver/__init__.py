"""Real-server side of tunnel mode: decapsulation, the VIP, ARP and rp_filter settings, MSS clamp.

`up(vips, iface)` uses the kernel's tunl0 where the ipip module exists and
pyvs's XDP decap program otherwise; `down()` undoes exactly what `up` did;
`check(vips, iface)` lists what is missing, in words. `probe.probe()`, run
on another host, sends the real server an IPIP packet for a VIP and waits for
the answer from the VIP.
"""

from pyvs.realserver.plan import DecapMode
from pyvs.realserver.setup import check, down, up
from pyvs.realserver.system import RealServerError

__all__ = ["DecapMode", "RealServerError", "check", "down", "up"]
