/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the sweeper: what expires flows, as IPVS's per-connection
 * timers do. Every LB_SWEEP_INTERVAL_NS a BPF timer walks the flow table
 * (bpf_for_each_map_elem) and deletes each flow whose idle timeout has passed,
 * taking it out of lb_conns first: a flow stops counting at most one
 * interval, plus the walk, after it expires. A flow whose real server was
 * removed stays until then, as an IPVS connection does: its packets are
 * dropped (or drained, see LB_SETTING_DRAIN) and do not make it younger. The packet path deletes nothing; it takes over the
 * entry of an expired flow when a new connection comes on its 5-tuple.
 *
 * lb_sweep runs one sweep (BPF_PROG_TEST_RUN; `pyvs director attach` and the
 * tests), lb_sweeper_start arms the timer, which then re-arms itself for as
 * long as lb_sweeper is pinned. Neither is ever attached to an interface.
 */
#ifndef LB_SWEEPER_H
#define LB_SWEEPER_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_maps.h"
#include "conns.h"
#include "timers.h"

struct sweep_ctx {
	__u64 now;
	__u64 expired;
};

/* The flow's idle timeout has passed (a flow seen after @now, on another CPU, has not). */
static __always_inline int flow_expired(const struct lb_flow *flow, __u64 now)
{
	__s64 idle = (__s64)(now - flow->last_seen_ns);

	return idle > 0 && (__u64)idle > flow_timeout_ns(flow->state);
}

static long sweep_flow(void *map, struct lb_flow_key *key, struct lb_flow *flow, struct sweep_ctx *ctx)
{
	if (!flow_expired(flow, ctx->now))
		return 0;
	if (flow_release(flow))
		return 0;	/* a CPU is taking this entry over for a new connection */
	bpf_map_delete_elem(&lb_flows, key);
	ctx->expired++;
	return 0;
}

/* One walk of the flow table at @now; counted in @sweeper. */
static __always_inline void sweep_flows(struct lb_sweeper *sweeper, __u64 now)
{
	struct sweep_ctx ctx = { .now = now };

	bpf_for_each_map_elem(&lb_flows, sweep_flow, &ctx, 0);
	__sync_fetch_and_add(&sweeper->sweeps, 1);
	__sync_fetch_and_add(&sweeper->expired, ctx.expired);
}

static int sweeper_fired(void *map, __u32 *key, struct lb_sweeper *sweeper)
{
	sweep_flows(sweeper, bpf_ktime_get_ns());
	bpf_timer_start(&sweeper->timer, LB_SWEEP_INTERVAL_NS, 0);
	return 0;
}

static __always_inline struct lb_sweeper *the_sweeper(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lb_sweeper, &zero);
}

/* One sweep now. Returns: XDP_PASS, or XDP_ABORTED when lb_sweeper is missing. */
static __always_inline int sweep_once(void)
{
	struct lb_sweeper *sweeper = the_sweeper();

	if (!sweeper)
		return XDP_ABORTED;
	sweep_flows(sweeper, bpf_ktime_get_ns());
	return XDP_PASS;
}

/*
 * Arm the timer (again: a timer already set up is only restarted).
 * Returns: XDP_PASS, or XDP_ABORTED when the timer cannot be set.
 */
static __always_inline int sweeper_start(void)
{
	struct lb_sweeper *sweeper = the_sweeper();

	if (!sweeper || arm_timer(&sweeper->timer, &lb_sweeper, sweeper_fired, LB_SWEEP_INTERVAL_NS))
		return XDP_ABORTED;
	return XDP_PASS;
}

#endif /* LB_SWEEPER_H */
