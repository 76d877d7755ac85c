/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the locality-based schedulers, lblc and lblcr
 * (ip_vs_lblc.c, ip_vs_lblcr.c): a cache per destination address (lb_lblc;
 * for a virtual service that is its VIP, so one entry per service) that
 * sends new connections to the same real server (lblc) or to the least
 * loaded of a set of real servers (lblcr) while they are not overloaded in
 * the kernel's sense: more active connections than weight while another
 * real server of the service has fewer than half its weight. Otherwise the
 * connection is scheduled as wlc schedules it, and the cache follows.
 *
 * Differences from the kernel, which keeps its caches under a lock: two CPUs
 * rewriting one entry at the same instant can lose one of the rewrites; an
 * lblcr set holds at most LB_LBLC_SET_MAX real servers (the oldest member
 * leaves for a newcomer), and a member whose real server was removed leaves
 * at the next change of its set (IPVS keeps it, unavailable, until the set's
 * most loaded member expires).
 */
#ifndef LB_LBLC_H
#define LB_LBLC_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_maps.h"
#include "conns.h"
#include "walks.h"

/*
 * half_idle() - some real server of the @len from @base in lb_sched has fewer
 * active connections than half its weight (is_overloaded()'s walk).
 * A global function, verified once on its own.
 * Returns: 1 or 0.
 */
__attribute__((noinline)) int half_idle(__u32 base, __u32 len)
{
	__u32 i, real_id;
	struct lb_conns *c;
	struct lb_real *real;

	for (i = 0; i < LB_SCHED_SLOTS; i++) {
		if (i >= len || walk_at(base, i, &real_id, &real, &c))
			break;
		if (real && c && (__u64)c->active * 2 < real->weight)
			return 1;
	}
	return 0;
}

/* The kernel's is_overloaded() of lblc and lblcr (not the -x flag). */
static __always_inline int lblc_overloaded(__u32 id, const struct lb_real *real, __u32 base, __u32 len)
{
	struct lb_conns *c = bpf_map_lookup_elem(&lb_conns, &id);

	return c && c->active > real->weight && half_idle(base, len);
}

/* (active << 8) + inactive of real server @id (ip_vs_dest_conn_overhead()). */
static __always_inline __s64 conn_overhead(__u32 id)
{
	struct lb_conns *c = bpf_map_lookup_elem(&lb_conns, &id);

	return c ? ((__s64)c->active << 8) + c->inactive : 0;
}

/*
 * set_min() - ip_vs_dest_set_min(): the member of least overhead per weight,
 * passing over overloaded (-x) and removed members, and in the first stage
 * those of weight 0. Returns: its index, or -1.
 */
static __always_inline int set_min(const struct lb_lblc *en, __u32 svc_id)
{
	__s64 least_overhead = 0, least_weight = 0, overhead;
	struct lb_real *real;
	int i, least = -1;

	for (i = 0; i < LB_LBLC_SET_MAX; i++) {
		if (i >= (int)en->size)
			break;
		real = real_current(en->real_id[i], en->real_gen[i], svc_id);
		if (!real || real_overloaded(en->real_id[i], real))
			continue;
		overhead = conn_overhead(en->real_id[i]);
		if (least < 0 ? real->weight > 0 : least_overhead * real->weight > overhead * least_weight) {
			least = i;
			least_overhead = overhead;
			least_weight = real->weight;
		}
	}
	return least;
}

/*
 * set_max() - ip_vs_dest_set_max(): the member of most overhead per weight
 * among those of weight above 0 (a removed one has none here; the kernel's
 * trash keeps its last weight). Returns: its index, or -1.
 */
static __always_inline int set_max(const struct lb_lblc *en)
{
	__s64 most_overhead = 0, most_weight = 0, overhead, weight;
	struct lb_real *real;
	int i, most = -1;

	for (i = 0; i < LB_LBLC_SET_MAX; i++) {
		if (i >= (int)en->size)
			break;
		real = bpf_map_lookup_elem(&lb_reals, &en->real_id[i]);
		weight = real && real->gen == en->real_gen[i] ? real->weight : 0;
		if (weight <= 0)
			continue;
		overhead = conn_overhead(en->real_id[i]);
		if (most < 0 || most_overhead * weight < overhead * most_weight) {
			most = i;
			most_overhead = overhead;
			most_weight = weight;
		}
	}
	return most;
}

/* Remove member @at of @en's set, keeping the others in order. */
static __always_inline void set_erase(struct lb_lblc *en, int at, __u64 now)
{
	int i;

	for (i = 0; i < LB_LBLC_SET_MAX - 1; i++) {
		if (i >= at && i + 1 < (int)en->size) {
			en->real_id[i] = en->real_id[i + 1];
			en->real_gen[i] = en->real_gen[i + 1];
		}
	}
	if (en->size > 0)
		en->size -= 1;
	en->lastmod_ns = now;
}

/*
 * set_insert() - ip_vs_dest_set_insert() with the check: @id of generation
 * @gen at the head of the set unless there already; removed members leave
 * first, and the oldest when the set is full.
 */
static __always_inline void set_insert(struct lb_lblc *en, __u32 svc_id, __u32 id, __u32 gen, __u64 now)
{
	__u32 i, kept = 0;

	for (i = 0; i < LB_LBLC_SET_MAX; i++) {
		if (i < en->size && en->real_id[i] == id && en->real_gen[i] == gen)
			return;
	}
	/* The current members, in order (a loop whose head does not come right after a
	 * call: 6.1's verifier takes that for a back-edge and refuses the program). */
	for (i = 0; i < LB_LBLC_SET_MAX; i++) {
		if (i >= en->size)
			break;
		if (real_current(en->real_id[i], en->real_gen[i], svc_id) == NULL)
			continue;
		if (kept < LB_LBLC_SET_MAX) {
			en->real_id[kept] = en->real_id[i];
			en->real_gen[kept] = en->real_gen[i];
			kept++;
		}
	}
	/* one place down, the last falling off a full set */
	for (i = LB_LBLC_SET_MAX - 1; i > 0; i--) {
		en->real_id[i] = en->real_id[i - 1];
		en->real_gen[i] = en->real_gen[i - 1];
	}
	en->real_id[0] = id;
	en->real_gen[0] = gen;
	en->size = kept < LB_LBLC_SET_MAX ? kept + 1 : LB_LBLC_SET_MAX;
	en->lastmod_ns = now;
}

/*
 * lblc_cached() - the cache's choice for a new connection to @daddr of
 * service @svc_id (whose real servers are the @len ids from @base in
 * lb_sched), as ip_vs_lblc_schedule() (@lblcr 0) or ip_vs_lblcr_schedule()
 * (@lblcr 1) takes it before scheduling afresh: lblc's one real server, or
 * lblcr's least loaded member (after taking the most loaded out of a set
 * unchanged for LB_LBLC_EXPIRATION_NS), unless overloaded in their sense.
 * A global function, verified once on its own.
 * Returns: the real server id, or -1: schedule as wlc, then lblc_record().
 */
__attribute__((noinline)) long lblc_cached(__u32 svc_id, __u32 daddr, __u32 base, __u32 len, __u32 lblcr)
{
	struct lb_lblc_key key = { .svc_id = svc_id, .daddr = daddr };
	struct lb_lblc *en = bpf_map_lookup_elem(&lb_lblc, &key);
	__u64 now = bpf_ktime_get_ns();
	struct lb_real *real;
	int at, most;
	__u32 id;

	if (!en || en->size == 0 || en->size > LB_LBLC_SET_MAX ||
	    (__s64)(now - en->lastuse_ns) > (__s64)LB_LBLC_EXPIRATION_NS)
		return -1;	/* none, or expired: the kernel's periodic check would have freed it */
	en->lastuse_ns = now;
	if (!lblcr) {
		id = en->real_id[0];
		real = real_current(id, en->real_gen[0], svc_id);
		if (real && real->weight > 0 && !lblc_overloaded(id, real, base, len))
			return id;
		return -1;
	}
	at = set_min(en, svc_id);
	/* the least loaded stays the choice even if the cleanup takes it out */
	id = at >= 0 && at < LB_LBLC_SET_MAX ? en->real_id[at] : 0;
	if (en->size > 1 && (__s64)(now - en->lastmod_ns) > (__s64)LB_LBLC_EXPIRATION_NS) {
		most = set_max(en);
		if (most >= 0)
			set_erase(en, most, now);
	}
	real = bpf_map_lookup_elem(&lb_reals, &id);
	if (at >= 0 && real && !lblc_overloaded(id, real, base, len))
		return id;
	return -1;
}

/*
 * lblc_record() - the cache after wlc scheduled @id for @daddr of service
 * @svc_id: lblc's entry replaced (ip_vs_lblc_new()), @id added to lblcr's
 * set (ip_vs_dest_set_insert()) or a new set made (ip_vs_lblcr_new()).
 * A global function, verified once on its own.
 * Returns: 0.
 */
__attribute__((noinline)) int lblc_record(__u32 svc_id, __u32 daddr, __u32 id, __u32 lblcr)
{
	struct lb_lblc_key key = { .svc_id = svc_id, .daddr = daddr };
	struct lb_lblc *en = bpf_map_lookup_elem(&lb_lblc, &key);
	struct lb_real *real = bpf_map_lookup_elem(&lb_reals, &id);
	__u64 now = bpf_ktime_get_ns();
	struct lb_lblc fresh = {};

	if (!real)
		return 0;
	if (en && lblcr && en->size > 0 && en->size <= LB_LBLC_SET_MAX &&
	    (__s64)(now - en->lastuse_ns) <= (__s64)LB_LBLC_EXPIRATION_NS) {
		set_insert(en, svc_id, id, real->gen, now);
		return 0;
	}
	fresh.lastuse_ns = now;
	fresh.lastmod_ns = now;
	fresh.size = 1;
	fresh.real_id[0] = id;
	fresh.real_gen[0] = real->gen;
	bpf_map_update_elem(&lb_lblc, &key, &fresh, BPF_ANY);
	return 0;
}

#endif /* LB_LBLC_H */
