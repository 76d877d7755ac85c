/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the choice of a real server: the service lookup, the
 * connection table (flows stick to their real server while alive, as in
 * IPVS), the TCP state kept for input-only connections, the rr/wrr
 * schedule walk, the sh/dh/mh table lookups and the walk of the schedulers
 * that read connection counts (conns.h). The schedules and tables
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
#include "conns.h"

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
 * A flow may keep its real server while it is alive, counted and its real
 * server still belongs to the service. A SYN on a closed or closing flow
 * starts a new connection, as IPVS's conn_reuse_mode=1 does.
 */
static __always_inline int flow_is_usable(const struct lb_flow *flow, __u32 svc_id,
					  const struct tcphdr *syn_only, __u64 now)
{
	if (flow->svc_id != svc_id || !flow->counted)
		return 0;
	if (now - flow->last_seen_ns > flow_timeout_ns(flow->state))
		return 0;
	if (syn_only && (flow->state == LB_FLOW_TIME_WAIT || flow->state == LB_FLOW_CLOSE))
		return 0;
	return real_current(flow->real_id, flow->real_gen, svc_id) != NULL;
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
	if (!real_current(tpl->real_id, tpl->real_gen, svc->id))
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

/*
 * sequence_slot() - take the next position of @svc's rr/wrr sequence.
 * Returns: the real server id there, or -1.
 */
static __always_inline __s64 sequence_slot(__u32 id, __u32 bank, __u32 len, __u32 *pos)
{
	__u32 slot = __sync_fetch_and_add(pos, 1) % len, *real_id;

	slot += (id * 2 + (bank & 1)) * LB_SCHED_SLOTS;
	real_id = bpf_map_lookup_elem(&lb_sched, &slot);
	if (!real_id)
		return -1;
	return *real_id;
}

/* The real server @id takes new connections: weight above 0 and not overloaded. */
static __always_inline int real_available(__u32 id)
{
	struct lb_real *real = bpf_map_lookup_elem(&lb_reals, &id);

	return real && real->weight > 0 && !real_overloaded(id, real);
}

/*
 * sequence_skip() - rr and wrr pass over overloaded real servers, as IPVS's
 * walks do: take positions until an available one, at most a whole sequence.
 * A global function, verified once on its own.
 * Returns: the real server id, or -1 when none is available.
 */
__attribute__((noinline)) long sequence_skip(__u32 id, __u32 bank, __u32 len)
{
	__u32 tries, *pos;
	__s64 real_id;

	pos = bpf_map_lookup_elem(&lb_sched_pos, &id);
	if (!pos || len == 0 || len > LB_SCHED_SLOTS)
		return -1;
	for (tries = 0; tries < LB_SCHED_SLOTS; tries++) {
		if (tries >= len)
			break;
		real_id = sequence_slot(id, bank, len, pos);
		if (real_id >= 0 && real_available(real_id))
			return real_id;
	}
	return -1;
}

/**
 * schedule_real() - take the next real server of @svc's rr/wrr sequence that
 * is not overloaded.
 * Returns: the real server id, or -1 when no real server takes new flows.
 */
static __always_inline __s64 schedule_real(const struct lb_svc *svc)
{
	__u32 id = svc->id, *pos;
	__s64 real_id;

	if (svc->sched_len == 0 || svc->sched_len > LB_SCHED_SLOTS)
		return -1;
	pos = bpf_map_lookup_elem(&lb_sched_pos, &id);
	if (!pos)
		return -1;
	real_id = sequence_slot(id, svc->bank, svc->sched_len, pos);
	if (real_id < 0 || real_available(real_id))
		return real_id;
	return sequence_skip(id, svc->bank, svc->sched_len);
}

/* How conns_pick() weighs a real server: the bits of its @how. */
enum conns_how {
	HOW_INACTIVE = 1,	/* overhead counts inactive connections */
	HOW_PLUS_ONE = 2,	/* overhead + 1: the incoming connection (sed, nq) */
	HOW_WEIGHTED = 4,	/* compare overhead / weight, else overhead alone (lc) */
	HOW_OVF = 8,		/* pass over those with more active connections than weight */
	HOW_NQ = 16,		/* the first with no active connection wins outright */
};

/*
 * conns_pick() - what a scheduler that reads connection counts picks among
 * the @len real ids from @base in lb_sched (the service's real servers in
 * kernel list order), as its ip_vs_<kind>_schedule() does. Every one passes
 * over overloaded real servers and those of weight 0 (for wlc and sed the
 * kernel compares the latter but a weight of 0 never wins), and takes the one
 * of least overhead / weight, the first in list order on a tie, with the
 * kernel's overheads (conns_how_of()) and 64-bit products. fo and ovf are the
 * same walk with an overhead of 1 for all: the highest weight wins. nq's
 * "the first idle one, at once" is the same walk with an idle one's overhead 0.
 * A global function, verified once on its own, and with @how as an unknown
 * value: one walk for all six schedulers, not one per scheduler.
 * Returns: the real server id, or -1 when none can take the connection.
 */
__attribute__((noinline)) long conns_pick(__u32 base, __u32 len, __u32 active_factor, __u32 how)
{
	/* Arithmetic, not branches, on @how's bits: the verifier walks each of the
	 * 256 rounds once per way through it, and would run out of budget. */
	__u32 ovf_mask = ((how & HOW_OVF) >> 3) - 1;	/* ovf: 0, else ~0 */
	__u32 nq = (how & HOW_NQ) >> 4, weighted = (how & HOW_WEIGHTED) >> 2;
	__u32 inactive_factor = how & HOW_INACTIVE, plus = (how & HOW_PLUS_ONE) >> 1;
	/* Nothing picked yet: 1 / 0 is worse than any overhead / weight. */
	__u32 i, slot, *real_id, weight, busy, overhead, best_overhead = 1, best_weight = 0;
	struct lb_conns *c;
	struct lb_real *real;
	__s64 best = -1;

	for (i = 0; i < LB_SCHED_SLOTS; i++) {
		if (i >= len)
			break;
		slot = base + i;
		real_id = bpf_map_lookup_elem(&lb_sched, &slot);
		if (!real_id)
			break;
		real = bpf_map_lookup_elem(&lb_reals, real_id);
		c = bpf_map_lookup_elem(&lb_conns, real_id);
		if (!real || !c || (c->overload != 0 && c->overload == real->overload_epoch))
			continue;
		weight = real->weight;
		/* ovf passes over those with more active connections than weight */
		if (weight == 0 || c->active > (weight | ovf_mask))
			continue;
		overhead = c->active * active_factor + c->inactive * inactive_factor + plus;
		/* nq: an idle one costs 0, so the first idle one wins and keeps it */
		busy = (c->active | (0 - c->active)) >> 31;
		overhead *= 1 - nq + nq * busy;
		weight = (weight - 1) * weighted + 1;	/* lc: 1 for all */
		if ((__u64)best_overhead * weight <= (__u64)overhead * best_weight)
			continue;
		best = *real_id;
		best_overhead = overhead;
		best_weight = weight;
	}
	return best;
}

/*
 * weight_walk() - walk the @len real ids from @base in lb_sched, adding up the
 * weights of those that take new connections (weight above 0, not
 * overloaded), as ip_vs_twos_schedule()'s loops do.
 * Returns: the id of the first whose running total reaches @until; when none
 * does, -1 - the total (so @until = ~0 gives the total weight).
 * A global function, verified once on its own.
 */
__attribute__((noinline)) long weight_walk(__u32 base, __u32 len, __u32 until)
{
	__u32 i, slot, *real_id;
	struct lb_conns *c;
	struct lb_real *real;
	__s64 total = 0;

	for (i = 0; i < LB_SCHED_SLOTS; i++) {
		if (i >= len)
			break;
		slot = base + i;
		real_id = bpf_map_lookup_elem(&lb_sched, &slot);
		if (!real_id)
			break;
		real = bpf_map_lookup_elem(&lb_reals, real_id);
		c = bpf_map_lookup_elem(&lb_conns, real_id);
		if (!real || !c || real->weight == 0 || (c->overload != 0 && c->overload == real->overload_epoch))
			continue;
		total += real->weight;
		if (total >= until)
			return *real_id;
	}
	return -1 - total;
}

/* The real server @id's (active << 8) + inactive (ip_vs_dest_conn_overhead()) and weight. */
static __always_inline void overhead_of(__u32 id, __s64 *overhead, __s64 *weight)
{
	struct lb_real *real = bpf_map_lookup_elem(&lb_reals, &id);
	struct lb_conns *c = bpf_map_lookup_elem(&lb_conns, &id);

	*overhead = c ? ((__s64)c->active << 8) + c->inactive : 0;
	*weight = real ? real->weight : 0;
}

/*
 * twos_pick() - ip_vs_twos_schedule() (Linux 6.2) over the @len real ids from
 * @base in lb_sched: two real servers drawn by weight with the random numbers
 * @r1 and @r2 (each mod the total weight + 1, as the kernel takes its
 * prandom_u32()s: the first whose running total of weights reaches it), and
 * of the two the one of less (active << 8) + inactive per weight, the first
 * on a tie.
 * Returns: the real server id, or -1 when none is available.
 */
static __always_inline __s64 twos_pick(__u32 base, __u32 len, __u32 r1, __u32 r2)
{
	__s64 total = -1 - weight_walk(base, len, ~0U), choice1, choice2;
	__s64 overhead1, overhead2, weight1, weight2;

	if (total <= 0)
		return -1;
	choice1 = weight_walk(base, len, (__u32)(r1 % (__u64)(total + 1)));
	choice2 = weight_walk(base, len, (__u32)(r2 % (__u64)(total + 1)));
	if (choice1 < 0 || choice2 < 0)
		return -1;	/* the real servers changed between the walks */
	overhead_of(choice1, &overhead1, &weight1);
	overhead_of(choice2, &overhead2, &weight2);
	if (weight2 * overhead1 > weight1 * overhead2)
		return choice2;
	return choice1;
}

/*
 * conns_how_of() - conns_pick()'s arguments for scheduler @kind: the factor of
 * active connections and the bits of conns_how. Overheads, as the kernel's:
 *   lc, wlc  (active << 8) + inactive    (ip_vs_dest_conn_overhead())
 *   sed, nq  active + 1
 *   fo, ovf  1 (active * 0 + 1): only the weights decide
 * Returns: 0, or -1 for a kind that is not one of these.
 */
static __always_inline int conns_how_of(__u32 kind, __u32 *active_factor, __u32 *how)
{
	switch (kind) {
	case LB_SCHED_LC:
		*active_factor = 256;
		*how = HOW_INACTIVE;
		return 0;
	case LB_SCHED_WLC:
		*active_factor = 256;
		*how = HOW_INACTIVE | HOW_WEIGHTED;
		return 0;
	case LB_SCHED_SED:
		*active_factor = 1;
		*how = HOW_PLUS_ONE | HOW_WEIGHTED;
		return 0;
	case LB_SCHED_NQ:
		*active_factor = 1;
		*how = HOW_PLUS_ONE | HOW_WEIGHTED | HOW_NQ;
		return 0;
	case LB_SCHED_FO:
		*active_factor = 0;
		*how = HOW_PLUS_ONE | HOW_WEIGHTED;
		return 0;
	case LB_SCHED_OVF:
		*active_factor = 0;
		*how = HOW_PLUS_ONE | HOW_WEIGHTED | HOW_OVF;
		return 0;
	default:
		return -1;
	}
}

/*
 * available_real() - the real server id at @slot of the table @map (lb_sched
 * or lb_mh), when it takes new connections (weight > 0, not overloaded); -1 otherwise.
 */
static __always_inline __s64 available_real(void *map, __u32 slot)
{
	__u32 *real_id = bpf_map_lookup_elem(map, &slot);

	if (!real_id || !real_available(*real_id))
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
 * Returns: the real server id when it is available (weight > 0, not overloaded), else -1.
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

#define LB_MH_FALLBACK_STEP 256	/* mh_fallback()'s steps: a sixteenth of the table, rounded up */
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
 * for each offset from @first on); mh_pick() calls it up to 16 times to
 * cover the whole table, as the kernel does. A global function, so that the
 * verifier checks its loop once, not once for every way the director reaches
 * it; the verifier walks each of its rounds, so a round costs it a hundred
 * instructions of its budget of a million for the whole program: 256 rounds.
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
 * Returns: the real server id when it is available (weight > 0, not overloaded), else -1.
 */
static __always_inline __s64 mh_pick(const struct lb_svc *svc, const struct lb_flow_key *key)
{
	__u32 port = 0, base, value, first, from;
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
	for (from = 0; from < LB_MH_TABLE_SIZE; from += LB_MH_FALLBACK_STEP) {
		picked = mh_fallback(base, value, first, from);
		if (picked >= 0)
			break;
	}
	return picked;
}

/*
 * schedule_new() - a real server for a new connection from @client:@client_port
 * (network order) to the service @vip, @port_proto (the port in network order
 * in the low 16 bits, the protocol above), by the service's scheduler. A
 * global function taking plain numbers, verified once on its own: inlined,
 * every scheduler's branches would multiply with the packet path's, past the
 * verifier's budget. It looks the service up again (a new connection pays one
 * lookup more; established flows never come here).
 * Returns: the real server id, or -1 when none takes the connection.
 */
__attribute__((noinline)) long schedule_new(__u32 vip, __u32 port_proto, __u32 client, __u32 client_port)
{
	struct lb_svc_key svc_key = { .addr = vip, .port = port_proto & 0xffff, .proto = port_proto >> 16 };
	struct lb_flow_key key = { .saddr = client, .daddr = vip, .sport = client_port };
	__u32 active_factor, how, base;
	struct lb_svc *svc = bpf_map_lookup_elem(&lb_services, &svc_key);

	if (!svc)
		return -1;
	if (svc->sched == LB_SCHED_SH || svc->sched == LB_SCHED_DH)
		return table_pick(svc, &key);
	if (svc->sched == LB_SCHED_MH)
		return mh_pick(svc, &key);
	if (svc->sched == LB_SCHED_RR || svc->sched == LB_SCHED_WRR)
		return schedule_real(svc);
	if (svc->sched_len > LB_SCHED_SLOTS)
		return -1;
	base = (svc->id * 2 + (svc->bank & 1)) * LB_SCHED_SLOTS;
	if (svc->sched == LB_SCHED_TWOS)
		return twos_pick(base, svc->sched_len, bpf_get_prandom_u32(), bpf_get_prandom_u32());
	if (conns_how_of(svc->sched, &active_factor, &how))
		return -1;
	return conns_pick(base, svc->sched_len, active_factor, how);
}

/* schedule() - a real server for a new connection of @svc (found at @svc_key), by its scheduler; -1: none. */
static __always_inline __s64 schedule(const struct lb_svc_key *svc_key, const struct lb_flow_key *key)
{
	return schedule_new(svc_key->addr, svc_key->port | (__u32)svc_key->proto << 16, key->saddr, key->sport);
}

#endif /* LB_SELECT_H */
