/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains what the director's two periodic jobs, the sweeper and
 * the rate estimator, share: arming a BPF timer that runs @callback every
 * @period_ns for as long as its map stays pinned (the callback re-arms it).
 */
#ifndef LB_TIMERS_H
#define LB_TIMERS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define LB_CLOCK_MONOTONIC 1	/* the timers' clock: bpf_ktime_get_ns()'s */
#define LB_EBUSY 16		/* bpf_timer_init() on a timer set up already */

/* Returns: 0, or -1 when the timer cannot be set (arming it again only restarts it). */
static __always_inline int arm_timer(struct bpf_timer *timer, void *map, void *callback, __u64 period_ns)
{
	long rc = bpf_timer_init(timer, map, LB_CLOCK_MONOTONIC);

	if (rc && rc != -LB_EBUSY)
		return -1;
	if (bpf_timer_set_callback(timer, callback))
		return -1;
	if (bpf_timer_start(timer, period_ns, 0))
		return -1;
	return 0;
}

#endif /* LB_TIMERS_H */
