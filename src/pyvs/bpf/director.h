/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the director: what it does with one frame, stage by
 * stage as in pyvs/packet/pipeline.py: parse -> service lookup -> flow
 * lookup -> schedule -> next hop -> encapsulate -> verdict (the last three in
 * forward.h). ICMP errors about a service's flows (icmp_errors.h) and later
 * fragments (fragments.h) join at next hop. Anything not for a virtual
 * service passes to the kernel unchanged; malformed frames for a VIP are
 * dropped through drop(), which counts the reason. The entry point is
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
#include "forward.h"
#include "icmp_errors.h"
#include "fragments.h"

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

	if (flow && flow_is_alive(flow, svc->id, syn_only, now)) {
		real_id = flow->real_id;
		real = real_current(real_id, flow->real_gen, svc->id);
		/* Its real server was removed: IPVS drops the packet and leaves the
		 * connection to time out; drained, it goes on to that real server. */
		if (!real && !(setting(LB_SETTING_DRAIN) && (real = real_draining(real_id, flow->real_gen)))) {
			*reason = LB_DROP_REAL_SERVER_GONE;
			return NULL;
		}
		flow->last_seen_ns = now;
		if (tcp)
			flow_set_state(flow, tcp_next_state(flow->state, tcp));
		persist_lookup(svc, key->saddr & svc->netmask, now);
		*new_conn = 0;
		*real_id_out = real_id;
		return real;
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
	__u32 real_id = 0, reason = LB_DROP_NO_REAL_SERVER;
	int rc, new_conn = 0;

	/* parse */
	if (parse_eth(data, data_end, &frame))
		return XDP_PASS;
	iph = ipv4_at(data, data_end, frame.l3_off);
	if (!iph)
		return XDP_PASS;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP && iph->protocol != IPPROTO_ICMP)
		return XDP_PASS;
	rc = check_ipv4(data, data_end, frame.l3_off, &frame);
	if (rc == -2)
		return drop_if_vip(iph->daddr, LB_DROP_BAD_IP_CHECKSUM);
	if (rc)
		return drop_if_vip(iph->daddr, LB_DROP_BAD_IP_HEADER);
	/* an ICMP error about a flow, a later fragment: decided apart, forwarded here */
	if (iph->protocol == IPPROTO_ICMP || iph->frag_off & bpf_htons(IP_OFFSET)) {
		long answer = iph->protocol == IPPROTO_ICMP ? icmp_error_to_vip(ctx) : fragment_to_vip(ctx);

		if (answer < 0)
			return LB_ANSWERED_ACTION(answer);
		real_id = (__u32)answer;
		real = bpf_map_lookup_elem(&lb_reals, &real_id);
		if (!real)
			return drop(LB_DROP_NO_REAL_SERVER);
		return forward_to_real(ctx, frame_pack(&frame), real->addr, real->saddr, 0);
	}
	/* (no variable says "first fragment": the verifier would walk the rest twice) */
	if (l4_check(data, data_end, iph->protocol, &frame, ipv4_is_fragment(iph)))
		return drop_if_vip(iph->daddr, LB_DROP_BAD_L4_HEADER);
	if (frame.l4_off > 78)
		return XDP_PASS;
	ports = data + bounded(frame.l4_off, 0x7f);
	if ((void *)(ports + 2) > data_end)
		return XDP_PASS;

	/* service lookup */
	svc_key.addr = iph->daddr;
	svc_key.port = ports[1];
	svc_key.proto = iph->protocol;
	svc = service_lookup(&svc_key);
	if (!svc)
		return XDP_PASS;
	if (iph->ttl <= 1)
		return drop(LB_DROP_TTL_EXCEEDED);

	/* flow lookup, schedule */
	if (iph->protocol == IPPROTO_TCP) {
		tcp = data + bounded(frame.l4_off, 0x7f);
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
	count(&lb_svc_stats, svc->id, frame.l3_len, new_conn);
	count(&lb_real_stats, real_id, frame.l3_len, new_conn);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	iph = ipv4_at(data, data_end, frame.l3_off);
	if (!iph)
		return drop(LB_DROP_BAD_IP_HEADER);
	if (ipv4_is_fragment(iph)) {
		frag_record(iph, svc->id, real_id, real->gen);
		return forward_to_real(ctx, frame_pack(&frame), real->addr, real->saddr, LB_FWD_REPLY);
	}
	return forward_to_real(ctx, frame_pack(&frame), real->addr, real->saddr, LB_FWD_REPLY | LB_FWD_CSUM);
}

#endif /* LB_DIRECTOR_H */
