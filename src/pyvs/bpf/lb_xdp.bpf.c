// SPDX-License-Identifier: GPL-2.0
/*
 * The director: an XDP program that forwards packets for virtual services to
 * real servers in IPVS tunnel mode (IPv4-in-IPv4). The code is director.h's.
 */
#include "director.h"

SEC("xdp")
int lb_director(struct xdp_md *ctx)
{
	return director_process(ctx);
}

char _license[] SEC("license") = "GPL";
