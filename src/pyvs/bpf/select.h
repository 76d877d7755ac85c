/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the choice of a real server: the service lookup, the
 * connection table (flows stick to their real server while alive, as in
 * IPVS), the TCP state kept for input-only connections, the rr/wrr
 * schedule walk and the sh/dh table lookup. The schedules and tables
 * themselves are computed in Python (pyvs/sched/) and written into lb_sched.
 */
#ifndef LB_SELECT_H
#define LB_SELECT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "lb_maps.h"

static __always_inline __u64 flow_timeout_ns(__u8 state)
{
	switch (state) {
	case LB_FLOW_ESTABLISHED:
		return LB_TIMEOUT_ESTABLISHED * NSEC_PER_SEC;
	case LB_FLOW_SYN_RECV:
		return LB_TIMEOUT_SYN_RECV * NSEC_PER_SEC;
	case LB_FLOW_FIN_WAIT:
		return LB_TIMEOUT_FIN_WAIT * NSEC_PER_SEC;
	case LB_FLOW_TIME_WAIT:
		return LB_TIMEOUT_TIME_WAIT * NSEC_PER_SEC;
	case LB_FLOW_CLOSE:
		return LB_TIMEOUT_CLOSE * NSEC_PER_SEC;
	case LB_FLOW_UDP:
		return LB_TIMEOUT_UDP * NSEC_PER_SEC;
	default:
		return LB_TIMEOUT_NONE * NSEC_PER_SEC;
	}
}

/*
 * Next TCP state of an input-only connection, from IPVS's table for
 * connections whose replies it never sees. Flag priority: RST, SYN, FIN, ACK.
 */
static __always_inline __u8 tcp_next_state(__u8 state, const struct tcphdr *tcp)
{
	if (tcp->rst) {
		if (state == LB_FLOW_SYN_RECV)
			return LB_FLOW_SYN_RECV;
		return LB_FLOW_CLOSE;
	}
	if (tcp->syn) {
		if (state == LB_FLOW_ESTABLISHED)
			return LB_FLOW_ESTABLISHED;
		return LB_FLOW_SYN_RECV;
	}
	if (tcp->fin) {
		switch (state) {
		case LB_FLOW_ESTABLISHED:
		case LB_FLOW_FIN_WAIT:
			return LB_FLOW_FIN_WAIT;
		case LB_FLOW_SYN_RECV:
		case LB_FLOW_TIME_WAIT:
			return LB_FLOW_TIME_WAIT;
		default:
			return LB_FLOW_CLOSE;
		}
	}
	if (tcp->ack) {
		if (state == LB_FLOW_NONE || state == LB_FLOW_SYN_RECV)
			return LB_FLOW_ESTABLISHED;
		return state;
	}
	return state;
}

/*
 * A flow may keep its real server while it is alive and its real server still
 * belongs to the service. A SYN on a closed or closing flow starts a new
 * connection, as IPVS's conn_reuse_mode=1 does.
 */
/* The real server @id still is the one of generation @gen, in service @svc_id. */
static __always_inline int real_is_current(__u32 id, __u32 gen, __u32 svc_id)
{
	struct lb_real *real = bpf_map_lookup_elem(&lb_reals, &id);

	return real && real->gen != 0 && real->gen == gen && real->svc_id == svc_id;
}

static __always_inline int flow_is_usable(const struct lb_flow *flow, __u32 svc_id,
					  const struct tcphdr *syn_only, __u64 now)
{
	if (flow->svc_id != svc_id)
		return 0;
	if (now - flow->last_seen_ns > flow_timeout_ns(flow->state))
		return 0;
	if (syn_only && (flow->state == LB_FLOW_TIME_WAIT || flow->state == LB_FLOW_CLOSE))
		return 0;
	return real_is_current(flow->real_id, flow->real_gen, svc_id);
}

/**
 * persist_lookup() - the live persistence template of a client, refreshed.
 * As in IPVS, a template keeps sending the client's new connections to its
 * real server even when that one is quiescent (weight 0).
 * Returns: the template, or NULL when there is none alive.
 */
static __always_inline struct lb_persist *persist_lookup(const struct lb_svc *svc, __be32 client,
							 __u64 now)
{
	struct lb_persist_key key = { .svc_id = svc->id, .client = client };
	struct lb_persist *tpl;

	if (!(svc->flags & LB_SVC_F_PERSISTENT))
		return NULL;
	tpl = bpf_map_lookup_elem(&lb_persist, &key);
	if (!tpl || now - tpl->last_seen_ns > (__u64)svc->timeout * NSEC_PER_SEC)
		return NULL;
	if (!real_is_current(tpl->real_id, tpl->real_gen, svc->id))
		return NULL;
	tpl->last_seen_ns = now;
	return tpl;
}

static __always_inline void persist_record(const struct lb_svc *svc, __be32 client, __u32 real_id,
					   __u32 real_gen, __u64 now)
{
	struct lb_persist_key key = { .svc_id = svc->id, .client = client };
	struct lb_persist tpl = { .last_seen_ns = now, .real_id = real_id, .real_gen = real_gen };

	if (svc->flags & LB_SVC_F_PERSISTENT)
		bpf_map_update_elem(&lb_persist, &key, &tpl, BPF_ANY);
}

/**
 * schedule_real() - take the next real server of @svc's rr/wrr sequence.
 * Returns: the real server id, or -1 when no real server takes new flows.
 */
static __always_inline __s64 schedule_real(const struct lb_svc *svc)
{
	__u32 id = svc->id, slot, *pos, *real_id;

	if (svc->sched_len == 0 || svc->sched_len > LB_SCHED_SLOTS)
		return -1;
	pos = bpf_map_lookup_elem(&lb_sched_pos, &id);
	if (!pos)
		return -1;
	slot = __sync_fetch_and_add(pos, 1) % svc->sched_len;
	slot += (id * 2 + (svc->bank & 1)) * LB_SCHED_SLOTS;
	real_id = bpf_map_lookup_elem(&lb_sched, &slot);
	if (!real_id)
		return -1;
	return *real_id;
}

/*
 * available_real() - the real server id at @slot of the table @map (lb_sched
 * or lb_mh), when it takes new connections (weight > 0); -1 otherwise.
 */
static __always_inline __s64 available_real(void *map, __u32 slot)
{
	__u32 *real_id = bpf_map_lookup_elem(map, &slot);
	struct lb_real *real;

	if (!real_id)
		return -1;
	real = bpf_map_lookup_elem(&lb_reals, real_id);
	if (!real || real->weight == 0)
		return -1;
	return *real_id;
}

/*
 * The sh and dh hash (ip_vs_sh_hashkey() at offset 0): @addr and @port in
 * host order. sh-fallback's other offsets are folded into the table.
 */
static __always_inline __u32 table_hash(__u32 addr, __u32 port)
{
	return ((port + addr) * LB_HASH_MULTIPLIER) & (LB_SCHED_SLOTS - 1);
}

/**
 * table_pick() - the real server of @svc's sh or dh table for this flow, as
 * ip_vs_sh_schedule() and ip_vs_dh_schedule() choose it: the bucket of the
 * client's address (sh; and port with sh-port) or of the destination address
 * (dh). With sh-fallback the control plane has written each bucket's
 * fallback outcome into the table (pyvs/sched/table.py), so one bucket is
 * all there is to read.
 * Returns: the real server id when it is available (weight > 0), else -1.
 */
static __always_inline __s64 table_pick(const struct lb_svc *svc, const struct lb_flow_key *key)
{
	__u32 addr, port = 0, slot;

	if (svc->sched_len != LB_SCHED_SLOTS)
		return -1;
	if (svc->sched == LB_SCHED_DH) {
		addr = bpf_ntohl(key->daddr);
	} else {
		addr = bpf_ntohl(key->saddr);
		if (svc->flags & LB_SVC_F_SCHED2)
			port = bpf_ntohs(key->sport);
	}
	slot = (svc->id * 2 + (svc->bank & 1)) * LB_SCHED_SLOTS + table_hash(addr, port);
	return available_real(&lb_sched, slot);
}

#define LB_MH_FALLBACK_STEP 2048	/* mh_fallback()'s steps: half the table, rounded up */
#define SIP_ROL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = SIP_ROL(v1, 13); v1 ^= v0; v0 = SIP_ROL(v0, 32);	\
	v2 += v3; v3 = SIP_ROL(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = SIP_ROL(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = SIP_ROL(v1, 17); v1 ^= v2; v2 = SIP_ROL(v2, 32);	\
} while (0)

/*
 * mh_hash() - the kernel's hsiphash() of the 4-byte @value on a 64-bit
 * machine (SipHash-1-3, folded to 32 bits), with ip_vs_mh.c's first key
 * (both words LB_MH_HASH1): where ip_vs_mh_get() looks a client up.
 */
static __always_inline __u32 mh_hash(__u32 value)
{
	__u64 v0 = 0x736f6d6570736575ULL ^ LB_MH_HASH1, v1 = 0x646f72616e646f6dULL ^ LB_MH_HASH1;
	__u64 v2 = 0x6c7967656e657261ULL ^ LB_MH_HASH1, v3 = 0x7465646279746573ULL ^ LB_MH_HASH1;
	__u64 last = ((__u64)sizeof(value) << 56) | value;

	v3 ^= last;
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	return (__u32)(v0 ^ v1 ^ v2 ^ v3);
}

/*
 * mh_fallback() - steps @from to @from + LB_MH_FALLBACK_STEP - 1 of
 * ip_vs_mh_get_fallback()'s walk from bucket @first (hsiphash(offset + @value)
 * for each offset from @first on); mh_pick() calls it twice to cover the whole
 * table, as the kernel does. A global function, so that the verifier checks
 * its loop once (half the table fits in its budget), not once for every way
 * the director reaches it.
 * Returns: the first available real server's id, or -1.
 */
__attribute__((noinline)) long mh_fallback(__u32 base, __u32 value, __u32 first, __u32 from)
{
	__u32 step, offset;
	__s64 picked;

	for (step = 0; step < LB_MH_FALLBACK_STEP; step++) {
		offset = from + step;
		if (offset >= LB_MH_TABLE_SIZE)
			break;
		picked = available_real(&lb_mh, base + mh_hash((offset + first) % LB_MH_TABLE_SIZE + value) %
						  LB_MH_TABLE_SIZE);
		if (picked >= 0)
			return picked;
	}
	return -1;
}

/**
 * mh_pick() - the real server of @svc's Maglev table for this flow, as
 * ip_vs_mh_get() chooses it: bucket hsiphash(port + client address) mod
 * LB_MH_TABLE_SIZE, the port being the client's with mh-port, else 0; with
 * mh-fallback, as ip_vs_mh_get_fallback() walks on from there.
 * Returns: the real server id when it is available (weight > 0), else -1.
 */
static __always_inline __s64 mh_pick(const struct lb_svc *svc, const struct lb_flow_key *key)
{
	__u32 port = 0, base, value, first;
	__s64 picked;

	if (svc->sched_len != LB_MH_TABLE_SIZE)
		return -1;
	if (svc->flags & LB_SVC_F_SCHED2)
		port = bpf_ntohs(key->sport);
	base = (svc->table * 2 + (svc->bank & 1)) * LB_MH_TABLE_SIZE;
	value = port + bpf_ntohl(key->saddr);
	first = mh_hash(value) % LB_MH_TABLE_SIZE;
	picked = available_real(&lb_mh, base + first);
	if (picked >= 0 || !(svc->flags & LB_SVC_F_SCHED1))
		return picked;
	picked = mh_fallback(base, value, first, 0);
	if (picked < 0)
		picked = mh_fallback(base, value, first, LB_MH_FALLBACK_STEP);
	return picked;
}

/* schedule() - a real server for a new connection of @svc, by its scheduler; -1: none. */
static __always_inline __s64 schedule(const struct lb_svc *svc, const struct lb_flow_key *key)
{
	if (svc->sched == LB_SCHED_SH || svc->sched == LB_SCHED_DH)
		return table_pick(svc, key);
	if (svc->sched == LB_SCHED_MH)
		return mh_pick(svc, key);
	return schedule_real(svc);
}

#endif /* LB_SELECT_H */
