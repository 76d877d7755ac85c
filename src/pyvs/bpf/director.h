/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the director: what it does with one frame, stage by
 * stage as in pyvs/packet/pipeline.py: parse -> service lookup -> flow
 * lookup -> schedule -> next hop -> encapsulate -> verdict. Anything not for
 * a virtual service passes to the kernel unchanged; malformed frames for a
 * VIP are dropped through drop(), which counts the reason. The entry point is
 * lb_xdp.bpf.c's; bench_xdp.bpf.c runs the same code behind its wrappers.
 */
#ifndef LB_DIRECTOR_H
#define LB_DIRECTOR_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"
#include "lb_consts.h"
#include "lb_maps.h"
#include "parsing.h"
#include "select.h"
#include "encap_ipip.h"
#include "icmp_frag.h"

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
 * select_flow() - the real server for this packet: the flow's, or a newly
 * scheduled one recorded in the flow table (a new entry, or the entry of an
 * expired or closed connection on the same 5-tuple taken over) and counted.
 * Returns: the real server's entry, or NULL with the drop reason in @reason.
 */
static __always_inline struct lb_real *select_flow(struct lb_flow_key *key,
						   const struct lb_svc_key *svc_key,
						   const struct lb_svc *svc,
						   struct tcphdr *tcp, __u32 *real_id_out,
						   int *new_conn, __u32 *reason)
{
	struct lb_flow *flow = bpf_map_lookup_elem(&lb_flows, key);
	struct lb_flow fresh = {};
	__u64 now = bpf_ktime_get_ns();
	struct tcphdr *syn_only = (tcp && tcp->syn && !tcp->ack) ? tcp : NULL;
	struct lb_persist *tpl;
	struct lb_real *real;
	__u32 real_id;
	__s64 picked;
	long rc;

	if (flow && flow_is_usable(flow, svc->id, syn_only, now)) {
		real_id = flow->real_id;
		flow->last_seen_ns = now;
		if (tcp)
			flow_set_state(flow, tcp_next_state(flow->state, tcp));
		persist_lookup(svc, key->saddr & svc->netmask, now);
		*new_conn = 0;
		*real_id_out = real_id;
		return bpf_map_lookup_elem(&lb_reals, &real_id);
	}

	*reason = LB_DROP_NO_REAL_SERVER;
	tpl = persist_lookup(svc, key->saddr & svc->netmask, now);
	if (tpl) {
		real_id = tpl->real_id;
	} else {
		picked = schedule(svc_key, svc, key);
		if (picked < 0)
			return NULL;
		real_id = (__u32)picked;
	}
	real = bpf_map_lookup_elem(&lb_reals, &real_id);
	if (!real || real->gen == 0 || real->svc_id != svc->id)
		return NULL;
	if (!tpl)
		persist_record(svc, key->saddr & svc->netmask, real_id, real->gen, now);
	fresh.last_seen_ns = now;
	fresh.real_id = real_id;
	fresh.real_gen = real->gen;
	fresh.svc_id = svc->id;
	fresh.state = tcp ? tcp_next_state(LB_FLOW_NONE, tcp) : LB_FLOW_UDP;
	fresh.counted = 1;
	/* One-packet scheduling (-o, UDP): like IPVS, a connection per packet,
	 * counted and gone with the packet, so neither kept nor counted here. */
	if (!(svc->flags & LB_SVC_F_ONEPACKET && !tcp)) {
		if (flow)
			rc = flow_take_over(flow, &fresh) ? -EEXIST : 0;
		else
			rc = bpf_map_update_elem(&lb_flows, key, &fresh, BPF_NOEXIST);
		if (rc == -EEXIST) {
			*reason = LB_DROP_FLOW_BUSY;
			return NULL;
		}
		/* A full table: a UDP packet goes on as one-packet scheduling would send
		 * it (not kept, not counted); a TCP connection is refused (its next
		 * packets would find no flow and could go elsewhere). */
		if (rc && tcp) {
			*reason = LB_DROP_FLOW_TABLE_FULL;
			return NULL;
		}
		if (!rc)
			conns_bind(real_id, real->gen, svc->id, fresh.state);
	}
	*new_conn = 1;
	*real_id_out = real_id;
	return real;
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

/**
 * director_process() - one frame through the director (lb_xdp.bpf.c's entry
 * point; the benchmark wrappers in bench_xdp.bpf.c call it too).
 * Returns: the XDP action.
 */
static __always_inline int director_process(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_frame frame = {};
	struct lb_svc_key svc_key = {};
	struct lb_flow_key flow_key = {};
	struct tcphdr *tcp = NULL;
	struct iphdr *iph;
	struct lb_svc *svc;
	struct lb_real *real;
	__u16 *ports;
	__u32 real_id = 0, bytes, reason = LB_DROP_NO_REAL_SERVER;
	struct bpf_fib_lookup fib = {};
	int rc, fib_rc, new_conn = 0;
	__be32 real_addr, saddr;

	/* parse */
	if (parse_eth(data, data_end, &frame))
		return XDP_PASS;
	iph = ipv4_at(data, data_end, frame.l3_off);
	if (!iph)
		return XDP_PASS;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return XDP_PASS;
	rc = check_ipv4(data, data_end, frame.l3_off, &frame);
	if (rc == -2)
		return drop_if_vip(iph->daddr, LB_DROP_BAD_IP_CHECKSUM);
	if (rc)
		return drop_if_vip(iph->daddr, LB_DROP_BAD_IP_HEADER);
	if (ipv4_is_fragment(iph))
		return drop_if_vip(iph->daddr, LB_DROP_FRAGMENT);
	if (l4_check(data, data_end, iph->protocol, &frame))
		return drop_if_vip(iph->daddr, LB_DROP_BAD_L4_HEADER);
	if (frame.l4_off > 78)
		return XDP_PASS;
	ports = data + frame.l4_off;
	if ((void *)(ports + 2) > data_end)
		return XDP_PASS;

	/* service lookup */
	svc_key.addr = iph->daddr;
	svc_key.port = ports[1];
	svc_key.proto = iph->protocol;
	svc = bpf_map_lookup_elem(&lb_services, &svc_key);
	if (!svc) {
		/* a persistent service on port 0 takes every port of its VIP, as in IPVS */
		svc_key.port = 0;
		svc = bpf_map_lookup_elem(&lb_services, &svc_key);
		if (!svc)
			return XDP_PASS;
	}
	if (iph->ttl <= 1)
		return drop(LB_DROP_TTL_EXCEEDED);

	/* flow lookup, schedule */
	if (iph->protocol == IPPROTO_TCP) {
		tcp = data + frame.l4_off;
		if ((void *)(tcp + 1) > data_end)
			return XDP_PASS;
	}
	flow_key.saddr = iph->saddr;
	flow_key.daddr = iph->daddr;
	flow_key.sport = ports[0];
	flow_key.dport = ports[1];
	flow_key.proto = iph->protocol;
	real = select_flow(&flow_key, &svc_key, svc, tcp, &real_id, &new_conn, &reason);
	if (!real)
		return drop(reason);
	real_addr = real->addr;
	saddr = real->saddr;
	bytes = frame.l3_len;
	count(&lb_svc_stats, svc->id, bytes, new_conn);
	count(&lb_real_stats, real_id, bytes, new_conn);

	/* next hop: forward, let the kernel finish, or tell the client to send less */
	fib_rc = lookup_next_hop(ctx, &fib, real_addr, iph->tos, frame.l3_len + sizeof(struct iphdr));
	if (fib_rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && (iph->frag_off & bpf_htons(IP_DF))) {
		drop(LB_DROP_FRAG_NEEDED);
		if (reply_frag_needed(ctx, &frame, fib.mtu_result))
			return XDP_DROP;
		return XDP_TX;
	}
	if ((fib_rc != BPF_FIB_LKUP_RET_SUCCESS && fib_rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	     fib_rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) || !saddr)
		return drop(LB_DROP_NO_ROUTE);

	/* encapsulate, verdict */
	if (trim_frame(ctx, frame.l3_off + frame.l3_len))
		return drop(LB_DROP_NO_HEADROOM);
	rc = encap_ipip4(ctx, &frame, real_addr);
	if (rc)
		return drop(rc);
	return send_encapsulated(ctx, &fib, fib_rc, frame.l3_off, saddr);
}

#endif /* LB_DIRECTOR_H */
