/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the real server's side of tunnel mode on a kernel
 * without an IPIP module: strip the outer IPv4 header of protocol-4 packets
 * addressed to this host whose inner destination is a configured VIP, and
 * pass the inner packet to the kernel, which delivers it to the VIP on lo.
 * Everything else passes unchanged. Malformed tunnel packets to this host
 * are dropped and counted. The entry point is decap_xdp.bpf.c's;
 * bench_xdp.bpf.c runs the same code behind its wrappers.
 */
#ifndef LB_DECAP_H
#define LB_DECAP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"
#include "lb_consts.h"
#include "parsing.h"
#include "reshape.h"

/* VIP -> 1: inner destinations this host serves. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, __u32);
	__uint(max_entries, LB_MAX_DECAP_ADDRS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_decap_vips SEC(".maps");

/* local address -> 1: outer destinations that mean "this host". */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, __u32);
	__uint(max_entries, LB_MAX_DECAP_ADDRS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_decap_locals SEC(".maps");

/* enum lb_decap_counter -> per-CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, LB_DECAP_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_decap_stats SEC(".maps");

static __always_inline void bump(__u32 counter, __u64 by)
{
	__u64 *value = bpf_map_lookup_elem(&lb_decap_stats, &counter);

	if (value)
		*value += by;
}

static __always_inline int drop_tunnel_packet(void)
{
	bump(LB_DECAP_DROPPED, 1);
	return XDP_DROP;
}

/**
 * decap_process() - one frame through the decapsulation (decap_xdp.bpf.c's
 * entry point; the benchmark wrappers in bench_xdp.bpf.c call it too).
 * Returns: the XDP action.
 */
static __always_inline int decap_process(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_frame outer = {}, inner = {};
	struct iphdr *oiph, *iiph;
	__be32 daddr;

	if (parse_eth(data, data_end, &outer))
		return XDP_PASS;
	oiph = ipv4_at(data, data_end, outer.l3_off);
	if (!oiph || oiph->protocol != IPPROTO_IPIP)
		return XDP_PASS;
	daddr = oiph->daddr;
	if (!bpf_map_lookup_elem(&lb_decap_locals, &daddr))
		return XDP_PASS;
	if (check_ipv4(data, data_end, outer.l3_off, &outer) || ipv4_is_fragment(oiph))
		return drop_tunnel_packet();

	inner.l3_off = outer.l4_off;
	if (inner.l3_off > 78)
		return drop_tunnel_packet();
	iiph = data + inner.l3_off;
	if ((void *)(iiph + 1) > data_end)
		return drop_tunnel_packet();
	if (check_ipv4(data, data_end, inner.l3_off, &inner))
		return drop_tunnel_packet();
	if (inner.l3_len != outer.l3_len - (outer.l4_off - outer.l3_off))
		return drop_tunnel_packet();
	daddr = iiph->daddr;
	if (!bpf_map_lookup_elem(&lb_decap_vips, &daddr))
		return XDP_PASS;

	bump(LB_DECAP_PACKETS, 1);
	bump(LB_DECAP_BYTES, inner.l3_len);
	if (trim_frame(ctx, outer.l3_off + outer.l3_len) ||
	    move_l2_header(ctx, outer.l3_off, (int)(outer.l4_off - outer.l3_off)))
		return drop_tunnel_packet();
	return XDP_PASS;
}

#endif /* LB_DECAP_H */
