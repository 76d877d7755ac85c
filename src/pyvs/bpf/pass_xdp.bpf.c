// SPDX-License-Identifier: GPL-2.0
/*
 * XDP_PASS for every frame. Attached to the veth peer of an interface whose
 * XDP program transmits (XDP_TX) or redirects into it: such frames reach the
 * peer only when its receive side runs in NAPI mode, which an XDP program of
 * its own guarantees (GRO on the peer, documented to do the same, does not
 * on the 6.18 kernels pyvs is tested on: the frames vanish uncounted).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int lb_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
