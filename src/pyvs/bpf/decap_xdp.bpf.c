// SPDX-License-Identifier: GPL-2.0
/*
 * The real server's XDP decapsulation program. The code is decap.h's.
 */
#include "decap.h"

SEC("xdp")
int lb_decap(struct xdp_md *ctx)
{
	return decap_process(ctx);
}

char _license[] SEC("license") = "GPL";
