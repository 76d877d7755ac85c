/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the schedulers that walk a service's real servers in
 * kernel list order (the live bank of lb_sched) reading their connection
 * counts: lc, wlc, sed, nq, fo and ovf in one walk (conns_pick()), twos
 * (weight_walk(), twos_pick()); lblc.h builds lblc and lblcr on conns_pick().
 */
#ifndef LB_WALKS_H
#define LB_WALKS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_maps.h"
#include "conns.h"

/*
 * walk_at() - position @i of a walk over the bank from @base in lb_sched: the
 * real server's id, entry and counts (@real or @c NULL when missing).
 * Returns: 0, or -1 past the end of the bank.
 */
static __always_inline int walk_at(__u32 base, __u32 i, __u32 *id, struct lb_real **real, struct lb_conns **c)
{
	__u32 slot = base + i, *real_id = bpf_map_lookup_elem(&lb_sched, &slot);

	if (!real_id)
		return -1;
	*id = *real_id;
	*real = bpf_map_lookup_elem(&lb_reals, real_id);
	*c = bpf_map_lookup_elem(&lb_conns, real_id);
	return 0;
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
	__u32 i, real_id, weight, busy, overhead, best_overhead = 1, best_weight = 0;
	struct lb_conns *c;
	struct lb_real *real;
	__s64 best = -1;

	for (i = 0; i < LB_SCHED_SLOTS; i++) {
		if (i >= len || walk_at(base, i, &real_id, &real, &c))
			break;
		if (!real || !c || conns_overloaded(c, real))
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
		best = real_id;
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
	__u32 i, real_id;
	struct lb_conns *c;
	struct lb_real *real;
	__s64 total = 0;

	for (i = 0; i < LB_SCHED_SLOTS; i++) {
		if (i >= len || walk_at(base, i, &real_id, &real, &c))
			break;
		if (!real || !c || real->weight == 0 || conns_overloaded(c, real))
			continue;
		total += real->weight;
		if (total >= until)
			return real_id;
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

#endif /* LB_WALKS_H */
