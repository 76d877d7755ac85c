/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains what the director does with an ICMP error addressed to
 * a VIP: a router on a client's side saying "fragmentation needed" (or
 * another "destination unreachable", or "time exceeded") about a packet that
 * a real server sent from the VIP. The real server, not the director, must
 * hear it (path-MTU discovery on the return path depends on it), so the
 * error goes through the tunnel to the real server of the quoted connection,
 * as IPVS's ip_vs_in_icmp() sends it. The quoted packet went from the VIP to
 * the client, so the flow is its header reversed; without a flow, a
 * service whose scheduler hashes (sh, dh, mh) gives the real server the
 * connection would have had; otherwise the kernel gets the error. Echo
 * requests and every other ICMP message go to the kernel.
 */
#ifndef LB_ICMP_ERRORS_H
#define LB_ICMP_ERRORS_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"
#include "lb_maps.h"
#include "parsing.h"
#include "select.h"
#include "forward.h"

#define LB_ICMP_TIME_EXCEEDED 11

/* The first 8 bytes of an ICMP error; the packet it quotes follows (RFC 792). */
struct lb_icmp_error {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;
};

static __always_inline void count_icmp(__u32 which)
{
	__u64 *count = bpf_map_lookup_elem(&lb_icmp, &which);

	if (count)
		*count += 1;
}

/*
 * The real server of the connection @key (the quoted packet's header,
 * reversed) in @svc: its flow's while the flow lives, else the hashing
 * schedulers' choice. Returns: the real server's id, or -1.
 */
static __always_inline __s64 icmp_real(const struct lb_flow_key *key, const struct lb_svc *svc)
{
	struct lb_flow *flow = bpf_map_lookup_elem(&lb_flows, key);
	struct lb_real *real;
	__u32 id;
	__s64 picked;

	if (flow && flow_is_alive(flow, svc->id, NULL, bpf_ktime_get_ns())) {
		id = flow->real_id;
		if (real_current(id, flow->real_gen, svc->id) ||
		    (setting(LB_SETTING_DRAIN) && real_draining(id, flow->real_gen)))
			return id;
		return -1;
	}
	if (svc->sched == LB_SCHED_SH || svc->sched == LB_SCHED_DH)
		picked = table_pick(svc, key);
	else if (svc->sched == LB_SCHED_MH)
		picked = mh_pick(svc, key);
	else
		return -1;
	if (picked < 0)
		return -1;
	id = (__u32)picked;
	real = bpf_map_lookup_elem(&lb_reals, &id);
	if (!real || real->svc_id != svc->id || real->gen == 0)
		return -1;
	return id;
}

/**
 * icmp_error_to_vip() - where an ICMP packet goes: to the real server whose
 * connection it is about, or to the kernel. A global function, verified once
 * whatever its caller; it parses the frame again (taking plain numbers from
 * the caller would lose their bounds on some kernels' verifiers).
 * Returns: the real server's id, or LB_ANSWER(XDP action).
 */
__noinline long icmp_error_to_vip(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lb_frame frame = {};
	struct lb_svc_key svc_key = {};
	struct lb_flow_key key = {};
	struct lb_icmp_error *icmp;
	struct iphdr *iph, *quoted;
	struct lb_svc *svc;
	__u32 quote_off, which;
	__s64 real_id;
	__u16 *ports;
	int rc;

	if (parse_eth(data, data_end, &frame))
		return LB_ANSWER(XDP_PASS);
	iph = ipv4_at(data, data_end, frame.l3_off);
	if (!iph || !bpf_map_lookup_elem(&lb_vip_addrs, &iph->daddr))
		return LB_ANSWER(XDP_PASS);
	rc = check_ipv4(data, data_end, frame.l3_off, &frame);
	if (rc == -2)
		return LB_ANSWER(drop(LB_DROP_BAD_IP_CHECKSUM));
	if (rc)
		return LB_ANSWER(drop(LB_DROP_BAD_IP_HEADER));
	if (ipv4_is_fragment(iph) || frame.l4_off > 78)
		return LB_ANSWER(XDP_PASS);
	icmp = data + bounded(frame.l4_off, 0x7f);
	quoted = (void *)(icmp + 1);
	if ((void *)(quoted + 1) > data_end)
		return LB_ANSWER(XDP_PASS);
	if (icmp->type == LB_ICMP_DEST_UNREACH)
		which = icmp->code == LB_ICMP_FRAG_NEEDED ? LB_ICMP_FWD_FRAG_NEEDED : LB_ICMP_FWD_UNREACH;
	else if (icmp->type == LB_ICMP_TIME_EXCEEDED)
		which = LB_ICMP_FWD_TIME_EXCEEDED;
	else
		return LB_ANSWER(XDP_PASS);
	if (quoted->version != 4 || quoted->ihl < 5 ||
	    (quoted->protocol != IPPROTO_TCP && quoted->protocol != IPPROTO_UDP))
		return LB_ANSWER(XDP_PASS);
	/* the quoted header and its ports, within the error */
	quote_off = frame.l4_off + sizeof(*icmp) + quoted->ihl * 4;
	if (quote_off + 4 > frame.l3_off + frame.l3_len || quote_off > 78 + 8 + 60)
		return LB_ANSWER(XDP_PASS);
	ports = data + bounded(quote_off, 0xff);
	if ((void *)(ports + 2) > data_end)
		return LB_ANSWER(XDP_PASS);

	svc_key.addr = quoted->saddr;
	svc_key.port = ports[0];
	svc_key.proto = quoted->protocol;
	svc = service_lookup(&svc_key);
	if (!svc)
		return LB_ANSWER(XDP_PASS);
	key.saddr = quoted->daddr;
	key.daddr = quoted->saddr;
	key.sport = ports[1];
	key.dport = ports[0];
	key.proto = quoted->protocol;
	real_id = icmp_real(&key, svc);
	if (real_id < 0) {
		count_icmp(LB_ICMP_PASSED);
		return LB_ANSWER(XDP_PASS);
	}
	if (iph->ttl <= 1)
		return LB_ANSWER(drop(LB_DROP_TTL_EXCEEDED));
	count_icmp(which);
	return real_id;
}

#endif /* LB_ICMP_ERRORS_H */
