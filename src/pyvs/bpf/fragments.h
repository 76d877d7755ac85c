/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains how the fragments of one datagram to a virtual service
 * all reach the same real server (IPVS sees datagrams reassembled; the
 * director forwards fragments as they come). The first fragment carries the
 * ports: it goes through the service and flow lookup as a whole packet would,
 * and where it went is kept in lb_frags, keyed by what RFC 791 says
 * identifies a datagram's fragments (source, destination, protocol, id). The
 * later fragments follow it there for LB_FRAG_TIMEOUT_S. A later fragment
 * that comes before its first, or after the entry went, cannot be placed: it
 * is dropped (LB_DROP_FRAGMENT), and the datagram with it.
 */
#ifndef LB_FRAGMENTS_H
#define LB_FRAGMENTS_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"
#include "lb_maps.h"
#include "parsing.h"
#include "select.h"
#include "forward.h"

/* The first fragment of a datagram went to real server @real_id (generation @gen) of service @svc_id. */
static __always_inline void frag_record(const struct iphdr *iph, __u32 svc_id, __u32 real_id, __u32 gen)
{
	struct lb_frag_key key = { .saddr = iph->saddr, .daddr = iph->daddr, .id = iph->id,
				   .proto = iph->protocol };
	struct lb_frag value = { .seen_ns = bpf_ktime_get_ns(), .real_id = real_id, .real_gen = gen,
				 .svc_id = svc_id };

	bpf_map_update_elem(&lb_frags, &key, &value, BPF_ANY);
}

/**
 * fragment_to_vip() - where a later fragment (offset > 0) of a TCP or UDP
 * datagram, whose IPv4 header was checked, goes: where its first went. A
 * global function, verified once whatever its caller (it parses the frame again).
 * Returns: the real server's id, or LB_ANSWER(XDP action).
 */
__noinline long fragment_to_vip(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_frame frame = {};
	struct lb_frag_key key = {};
	struct lb_real *real;
	struct lb_frag *frag;
	struct iphdr *iph;

	if (parse_eth(data, data_end, &frame))
		return LB_ANSWER(XDP_PASS);
	iph = ipv4_at(data, data_end, frame.l3_off);
	if (!iph || check_ipv4(data, data_end, frame.l3_off, &frame))
		return LB_ANSWER(XDP_PASS);
	key.saddr = iph->saddr;
	key.daddr = iph->daddr;
	key.id = iph->id;
	key.proto = iph->protocol;
	frag = bpf_map_lookup_elem(&lb_frags, &key);
	if (!frag || bpf_ktime_get_ns() - frag->seen_ns > LB_FRAG_TIMEOUT_S * NSEC_PER_SEC)
		return LB_ANSWER(drop_if_vip(iph->daddr, LB_DROP_FRAGMENT));
	real = real_current(frag->real_id, frag->real_gen, frag->svc_id);
	if (!real && setting(LB_SETTING_DRAIN))
		real = real_draining(frag->real_id, frag->real_gen);
	if (!real)
		return LB_ANSWER(drop(LB_DROP_REAL_SERVER_GONE));
	if (iph->ttl <= 1)
		return LB_ANSWER(drop(LB_DROP_TTL_EXCEEDED));
	count(&lb_svc_stats, frag->svc_id, frame.l3_len, 0);
	count(&lb_real_stats, frag->real_id, frame.l3_len, 0);
	return frag->real_id;
}

#endif /* LB_FRAGMENTS_H */
