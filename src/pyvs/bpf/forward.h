/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the director's last stages, shared by every kind of
 * packet it forwards (a virtual service's, an ICMP error about one of its
 * flows, a later fragment): next hop -> encapsulate -> verdict, and the
 * counters the stages keep. See director.h for the stages before.
 */
#ifndef LB_FORWARD_H
#define LB_FORWARD_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"
#include "lb_consts.h"
#include "lb_maps.h"
#include "parsing.h"
#include "encap_ipip.h"
#include "icmp_frag.h"
#include "csum_offload.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#define EEXIST 17	/* what bpf_map_update_elem() returns, negated, for BPF_NOEXIST on a taken key */

static __always_inline int drop(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&lb_drops, &reason);

	if (count)
		*count += 1;
	return XDP_DROP;
}

/* One of pyvs's own switches (enum lb_setting): 0 or 1. */
static __always_inline __u32 setting(__u32 which)
{
	__u32 *value = bpf_map_lookup_elem(&lb_settings, &which);

	return value ? *value : 0;
}

/* Malformed traffic is dropped when it is addressed to a VIP, passed otherwise. */
static __always_inline int drop_if_vip(__be32 daddr, __u32 reason)
{
	if (bpf_map_lookup_elem(&lb_vip_addrs, &daddr))
		return drop(reason);
	return XDP_PASS;
}

static __always_inline void count(void *stats_map, __u32 id, __u32 bytes, int new_conn)
{
	struct lb_counters *c = bpf_map_lookup_elem(stats_map, &id);

	if (!c)
		return;
	c->conns += new_conn;
	c->inpkts += 1;
	c->inbytes += bytes;
}

/**
 * lookup_next_hop() - ask the kernel's FIB how to reach @real_addr with an
 * encapsulated packet of @outer_len bytes; fills @fib (MACs and egress
 * interface, or the MTU when too big). The outer source address comes from
 * the real server's entry, not from the lookup (see LB_FIB_LOOKUP_FLAGS).
 * Returns: a BPF_FIB_LKUP_RET_* code, negative on a bad request.
 */
static __always_inline int lookup_next_hop(struct xdp_md *ctx, struct bpf_fib_lookup *fib,
					   __be32 real_addr, __u8 tos, __u32 outer_len)
{
	fib->family = AF_INET;
	fib->tos = tos;
	fib->l4_protocol = IPPROTO_IPIP;
	fib->tot_len = outer_len;
	fib->ipv4_dst = real_addr;
	fib->ifindex = ctx->ingress_ifindex;
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), LB_FIB_LOOKUP_FLAGS);
}

/**
 * send_encapsulated() - finish the outer header (source @saddr) and hand the
 * frame on.
 * Returns: XDP_TX or a redirect toward the next hop; XDP_PASS when the kernel
 * must resolve the neighbour or fragment the outer packet.
 */
static __always_inline int send_encapsulated(struct xdp_md *ctx, const struct bpf_fib_lookup *fib,
					     int fib_rc, __u32 l2_len, __be32 saddr)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = ipv4_at(data, data_end, l2_len);

	if (!outer || (void *)(eth + 1) > data_end)
		return drop(LB_DROP_NO_HEADROOM);
	outer->saddr = saddr;
	ipv4_set_checksum(outer);
	if (fib_rc != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	if (fib->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(fib->ifindex, 0);
}

/*
 * What icmp_error_to_vip() and fragment_to_vip() answer, in one number: a real
 * server id (>= 0) to forward the packet to, or an XDP action to return
 * (LB_ANSWER(action), < 0). They decide, the director forwards: a call chain
 * through them to forward_to_real() would pass the stack's 512 bytes.
 */
#define LB_ANSWER(action) (-(long)(action) - 1)
#define LB_ANSWERED_ACTION(answer) ((int)(-(answer) - 1))

/* What forward_to_real() may do besides forwarding. */
enum lb_forward_flag {
	LB_FWD_REPLY = 1,	/* answer a too-big packet with DF set with "fragmentation needed" */
	LB_FWD_CSUM = 2,	/* finish a checksum left to offload (a whole TCP or UDP packet) */
};

/* The three numbers of a struct lb_frame, in one argument of forward_to_real(). */
static __always_inline __u32 frame_pack(const struct lb_frame *frame)
{
	return frame->l3_off | frame->l4_off << 8 | frame->l3_len << 16;
}

/**
 * forward_to_real() - the IPv4 packet described by @packed_frame (from
 * frame_pack()), encapsulated toward @real_addr with the outer source @saddr:
 * next hop -> encapsulate -> verdict.
 * @flags: enum lb_forward_flag.
 * A global function, verified once for its three callers (packets of a
 * service, ICMP errors, later fragments), whatever paths lead to it.
 * Returns: the XDP action.
 */
__noinline int forward_to_real(struct xdp_md *ctx, __u32 packed_frame, __be32 real_addr, __be32 saddr,
			       __u32 flags)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_frame frame = { .l3_off = packed_frame & 0xff, .l4_off = packed_frame >> 8 & 0xff,
				  .l3_len = packed_frame >> 16 };
	struct iphdr *iph = ipv4_at(data, data_end, frame.l3_off);
	struct bpf_fib_lookup fib = {};
	int rc, fib_rc;

	if (!iph || frame.l4_off > 78 || frame.l4_off < frame.l3_off + sizeof(*iph) ||
	    frame.l3_len < frame.l4_off - frame.l3_off)
		return drop(LB_DROP_BAD_IP_HEADER);
	/* next hop: forward, let the kernel finish, or tell the client to send less */
	fib_rc = lookup_next_hop(ctx, &fib, real_addr, iph->tos, frame.l3_len + sizeof(struct iphdr));
	if (fib_rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && (iph->frag_off & bpf_htons(IP_DF))) {
		drop(LB_DROP_FRAG_NEEDED);
		if (!(flags & LB_FWD_REPLY) || reply_frag_needed(ctx, &frame, fib.mtu_result))
			return XDP_DROP;
		return XDP_TX;
	}
	if ((fib_rc != BPF_FIB_LKUP_RET_SUCCESS && fib_rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	     fib_rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) || !saddr)
		return drop(LB_DROP_NO_ROUTE);

	/* encapsulate, verdict */
	if (fib_rc == BPF_FIB_LKUP_RET_SUCCESS && (flags & LB_FWD_CSUM)) {
		__u32 at = offloaded_csum_at(data, data_end, &frame);

		if (at && !setting(LB_SETTING_SKB_MODE))
			finish_offloaded_csum(ctx, &frame, at);
	}
	if (trim_frame(ctx, frame.l3_off + frame.l3_len))
		return drop(LB_DROP_NO_HEADROOM);
	rc = encap_ipip4(ctx, &frame, real_addr);
	if (rc)
		return drop(rc);
	return send_encapsulated(ctx, &fib, fib_rc, frame.l3_off, saddr);
}

#endif /* LB_FORWARD_H */
