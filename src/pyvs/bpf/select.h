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
#include "walks.h"
#include "lblc.h"

/*
 * service_lookup() - the service at @key, or else (a persistent service on port
 * 0 takes every port of its VIP, as in IPVS) the one at port 0, @key's port
 * then set to 0. Returns: the service, or NULL.
 */
static __always_inline struct lb_svc *service_lookup(struct lb_svc_key *key)
{
	struct lb_svc *svc = bpf_map_lookup_elem(&lb_services, key);

	if (svc)
		return svc;
	key->port = 0;
	return bpf_map_lookup_elem(&lb_services, key);
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
 * A flow keeps its real server while it is alive (not timed out) and counted,
 * in its service. A SYN on a closed or closing flow starts a new connection,
 * as IPVS's conn_reuse_mode=1 does. Whether its real server is still there is
 * the caller's question (real_current(), real_draining()).
 */
static __always_inline int flow_is_alive(const struct lb_flow *flow, __u32 svc_id,
					 const struct tcphdr *syn_only, __u64 now)
{
	if (flow->svc_id != svc_id || !flow->counted)
		return 0;
	if (now - flow->last_seen_ns > flow_timeout_ns(flow->state))
		return 0;
	if (syn_only && (flow->state == LB_FLOW_TIME_WAIT || flow->state == LB_FLOW_CLOSE))
		return 0;
	return 1;
}

/*
 * The removed real server @id of generation @gen, while the id has not been
 * given out again: a freed entry keeps the address it had (and its
 * generation) until then.
 */
static __always_inline struct lb_real *real_draining(__u32 id, __u32 gen)
{
	struct lb_real *real = bpf_map_lookup_elem(&lb_reals, &id);

	if (!real || real->gen != gen || !real->addr)
		return NULL;
	return real;
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

/*
 * schedule() - a real server for a new connection of @svc (found at
 * @svc_key), by its scheduler; -1: none. lblc and lblcr are here, not in
 * schedule_new(): the stacks of the functions a call goes through add up,
 * and the verifier allows 512 bytes in all.
 */
static __always_inline __s64 schedule(const struct lb_svc_key *svc_key, const struct lb_svc *svc,
				      const struct lb_flow_key *key)
{
	__u32 base = (svc->id * 2 + (svc->bank & 1)) * LB_SCHED_SLOTS, active_factor, how;
	__u32 lblcr = svc->sched == LB_SCHED_LBLCR;
	__s64 picked;

	if (svc->sched == LB_SCHED_LBLC || lblcr) {
		if (svc->sched_len > LB_SCHED_SLOTS || conns_how_of(LB_SCHED_WLC, &active_factor, &how))
			return -1;
		picked = lblc_cached(svc->id, key->daddr, base, svc->sched_len, lblcr);
		if (picked >= 0)
			return picked;
		/* __ip_vs_lblc_schedule() and __ip_vs_lblcr_schedule() are wlc's */
		picked = conns_pick(base, svc->sched_len, active_factor, how);
		if (picked >= 0)
			lblc_record(svc->id, key->daddr, picked, lblcr);
		return picked;
	}
	return schedule_new(svc_key->addr, svc_key->port | (__u32)svc_key->proto << 16, key->saddr, key->sport);
}

#endif /* LB_SELECT_H */
