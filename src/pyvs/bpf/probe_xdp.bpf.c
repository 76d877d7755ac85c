// SPDX-License-Identifier: GPL-2.0
/*
 * fib_probe: one bpf_fib_lookup() as the director makes it (same flags, IPIP,
 * from the ingress interface), for pyvs/dataplane/features.py to run with
 * BPF_PROG_TEST_RUN before it loads the director. Some kernels load and
 * verify a program whose lookups then fail at run time (a flag they do not
 * know gives -EINVAL; before Linux 5.12 a too-big answer carries no MTU):
 * only running a lookup tells.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"
#include "lb_consts.h"

#ifndef AF_INET
#define AF_INET 2
#endif

SEC("xdp")
int fib_probe(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_fib_probe *probe = data;
	struct bpf_fib_lookup fib = {};

	if ((void *)(probe + 1) > data_end)
		return XDP_ABORTED;
	fib.family = AF_INET;
	fib.l4_protocol = IPPROTO_IPIP;
	fib.tot_len = probe->tot_len;
	fib.ipv4_dst = probe->dst;
	fib.ifindex = ctx->ingress_ifindex;
	probe->rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), LB_FIB_LOOKUP_FLAGS);
	probe->mtu_result = fib.mtu_result;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
