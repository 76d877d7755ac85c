/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the connection counts IPVS keeps per real server and its
 * schedulers and thresholds read (lb_conns): a flow counts as active in state
 * ESTABLISHED and as inactive in every other state (a new connection starts
 * inactive, as IPVS's conn_flags do), from the moment it is recorded
 * (ip_vs_bind_dest) until it expires or a new connection takes its entry over
 * (ip_vs_unbind_dest); a state change moves it between the two (set_tcp_state).
 * The overloaded flag follows ip_vs_bind_dest's and ip_vs_unbind_dest's rules
 * for -x and -y.
 *
 * Concurrency: a flow's state and its `counted` byte are one 32-bit word that
 * changes only by compare-and-swap (flow_word()), so that exactly one CPU, or
 * the sweeper, moves a flow from one count to another or out of the counts.
 * A flow whose real server is no longer the one it was scheduled to (removed,
 * its id given out again) touches no count: a real server's counts start at
 * zero when its id is given out (the control plane zeroes them first).
 */
#ifndef LB_CONNS_H
#define LB_CONNS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_maps.h"

#define FLOW_WORD(state, counted) ((__u32)(state) | (__u32)(counted) << 8)
#define FLOW_WORD_STATE(word) ((word) & 0xff)
#define FLOW_WORD_COUNTED(word) (((word) >> 8) & 0xff)

static __always_inline __u32 *flow_word(struct lb_flow *flow)
{
	return (__u32 *)&flow->state;
}

/* The real server @id, while it is the one of generation @gen in service @svc_id; else NULL. */
static __always_inline struct lb_real *real_current(__u32 id, __u32 gen, __u32 svc_id)
{
	struct lb_real *real = bpf_map_lookup_elem(&lb_reals, &id);

	if (!real || real->gen == 0 || real->gen != gen || real->svc_id != svc_id)
		return NULL;
	return real;
}

/*
 * real_overloaded() - IPVS's IP_VS_DEST_F_OVERLOAD of real server @id. The
 * data path sets the flag to the real server's overload_epoch; the control
 * plane clears it, as an edit that raises or removes -x does in IPVS, by
 * moving the epoch on (it cannot write lb_conns without losing counts).
 */
static __always_inline int conns_overloaded(const struct lb_conns *c, const struct lb_real *real)
{
	return c->overload != 0 && c->overload == real->overload_epoch;
}

static __always_inline int real_overloaded(__u32 id, const struct lb_real *real)
{
	struct lb_conns *c = bpf_map_lookup_elem(&lb_conns, &id);

	return c && conns_overloaded(c, real);
}

/* The counts of real server @id while it is the one of generation @gen in service @svc_id; else NULL. */
static __always_inline struct lb_conns *conns_current(__u32 id, __u32 gen, __u32 svc_id, struct lb_real **real)
{
	*real = real_current(id, gen, svc_id);
	if (!*real)
		return NULL;
	return bpf_map_lookup_elem(&lb_conns, &id);
}

/* A new connection, or one taken over, of the real server's (ip_vs_bind_dest). */
static __always_inline void conns_bind(__u32 id, __u32 gen, __u32 svc_id, __u32 state)
{
	struct lb_real *real;
	struct lb_conns *c = conns_current(id, gen, svc_id, &real);

	if (!c || !real)
		return;
	if (state == LB_FLOW_ESTABLISHED)
		__sync_fetch_and_add(&c->active, 1);
	else
		__sync_fetch_and_add(&c->inactive, 1);
	if (real->u_threshold && c->active + c->inactive >= real->u_threshold)
		c->overload = real->overload_epoch;
}

/* A connection that leaves the real server's counts (ip_vs_unbind_dest). */
static __always_inline void conns_unbind(__u32 id, __u32 gen, __u32 svc_id, __u32 state)
{
	struct lb_real *real;
	struct lb_conns *c = conns_current(id, gen, svc_id, &real);
	__u32 total;

	if (!c || !real)
		return;
	if (state == LB_FLOW_ESTABLISHED)
		__sync_fetch_and_add(&c->active, -1);
	else
		__sync_fetch_and_add(&c->inactive, -1);
	total = c->active + c->inactive;
	if (real->l_threshold) {
		if (total < real->l_threshold)
			c->overload = 0;
	} else if (real->u_threshold) {
		if ((__u64)total * 4 < (__u64)real->u_threshold * 3)
			c->overload = 0;
	} else {
		c->overload = 0;
	}
}

/* A connection that goes from inactive to active or back (set_tcp_state). */
static __always_inline void conns_move(const struct lb_flow *flow, __u32 from, __u32 to)
{
	struct lb_real *real;
	struct lb_conns *c;

	if ((from == LB_FLOW_ESTABLISHED) == (to == LB_FLOW_ESTABLISHED))
		return;
	c = conns_current(flow->real_id, flow->real_gen, flow->svc_id, &real);
	if (!c)
		return;
	if (to == LB_FLOW_ESTABLISHED) {
		__sync_fetch_and_add(&c->inactive, -1);
		__sync_fetch_and_add(&c->active, 1);
	} else {
		__sync_fetch_and_add(&c->active, -1);
		__sync_fetch_and_add(&c->inactive, 1);
	}
}

/*
 * flow_set_state() - move a counted flow to @state, and its count with it.
 * Lost to another CPU changing the word at the same instant: that CPU's
 * change stands (the flow's next packet computes the state again).
 */
static __always_inline void flow_set_state(struct lb_flow *flow, __u32 state)
{
	__u32 old = *flow_word(flow);

	if (FLOW_WORD_STATE(old) == state || !FLOW_WORD_COUNTED(old))
		return;
	if (__sync_val_compare_and_swap(flow_word(flow), old, FLOW_WORD(state, 1)) != old)
		return;
	conns_move(flow, FLOW_WORD_STATE(old), state);
}

/*
 * flow_release() - take @flow out of the counts, if this CPU is the one to.
 * Returns: 0 when it was counted and now is not (the caller owns the entry:
 * it deletes or rewrites it), -1 when another CPU or the sweeper owns it.
 */
static __always_inline int flow_release(struct lb_flow *flow)
{
	__u32 old = *flow_word(flow);

	if (!FLOW_WORD_COUNTED(old))
		return -1;
	if (__sync_val_compare_and_swap(flow_word(flow), old, FLOW_WORD_STATE(old)) != old)
		return -1;
	conns_unbind(flow->real_id, flow->real_gen, flow->svc_id, FLOW_WORD_STATE(old));
	return 0;
}

/*
 * flow_take_over() - make the existing entry @flow the new connection @fresh
 * (a new connection on the 5-tuple of an expired or closed one): out of the
 * old real server's counts, rewritten, counted again by the caller.
 * Returns: 0, or -1 when another CPU or the sweeper owns the entry now.
 */
static __always_inline int flow_take_over(struct lb_flow *flow, const struct lb_flow *fresh)
{
	if (flow_release(flow))
		return -1;
	flow->last_seen_ns = fresh->last_seen_ns;
	flow->real_id = fresh->real_id;
	flow->real_gen = fresh->real_gen;
	flow->svc_id = fresh->svc_id;
	*flow_word(flow) = FLOW_WORD(fresh->state, 1);
	return 0;
}

/* The idle timeout of @state: ipvsadm --set's, or IPVS's default. */
static __always_inline __u64 flow_timeout_ns(__u32 state)
{
	__u32 *set = bpf_map_lookup_elem(&lb_timeouts, &state);
	__u64 seconds;

	if (set && *set)
		return (__u64)*set * NSEC_PER_SEC;
	switch (state) {
	case LB_FLOW_ESTABLISHED:
		seconds = LB_TIMEOUT_ESTABLISHED;
		break;
	case LB_FLOW_SYN_RECV:
		seconds = LB_TIMEOUT_SYN_RECV;
		break;
	case LB_FLOW_FIN_WAIT:
		seconds = LB_TIMEOUT_FIN_WAIT;
		break;
	case LB_FLOW_TIME_WAIT:
		seconds = LB_TIMEOUT_TIME_WAIT;
		break;
	case LB_FLOW_CLOSE:
		seconds = LB_TIMEOUT_CLOSE;
		break;
	case LB_FLOW_UDP:
		seconds = LB_TIMEOUT_UDP;
		break;
	default:
		seconds = LB_TIMEOUT_NONE;
	}
	return seconds * NSEC_PER_SEC;
}

#endif /* LB_CONNS_H */
