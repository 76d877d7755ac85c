// SPDX-License-Identifier: GPL-2.0
/*
 * The director: an XDP program that forwards packets for virtual services to
 * real servers in IPVS tunnel mode (IPv4-in-IPv4). The code is director.h's.
 * Beside it, the sweeper's two programs (sweeper.h), run by BPF_PROG_TEST_RUN
 * and never attached.
 */
#include "director.h"
#include "sweeper.h"

SEC("xdp")
int lb_director(struct xdp_md *ctx)
{
	return director_process(ctx);
}

SEC("xdp")
int lb_sweep(struct xdp_md *ctx)
{
	return sweep_once();
}

SEC("xdp")
int lb_sweeper_start(struct xdp_md *ctx)
{
	return sweeper_start();
}

char _license[] SEC("license") = "GPL";
