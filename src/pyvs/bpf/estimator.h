/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the rate estimator: what `ipvsadm -L --rate` shows. As
 * IPVS's estimation_timer() (ip_vs_est.c) does every 2 seconds, a BPF timer
 * adds up each live service's and real server's per-CPU counters and moves
 * its rates (lb_rate) a quarter of the way to the last 2 seconds' rate.
 *
 * Adding up another CPU's counters takes bpf_map_lookup_percpu_elem() (Linux
 * 5.19), so these programs live in their own object (estimator_xdp.bpf.c),
 * which `pyvs director attach` loads only on kernels that have it; the maps
 * are the director's. lb_estimate runs one estimation (BPF_PROG_TEST_RUN: the
 * tests), lb_estimator_start arms the timer, which then re-arms itself.
 */
#ifndef LB_ESTIMATOR_H
#define LB_ESTIMATOR_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_maps.h"
#include "timers.h"

/* The counters of @id in the per-CPU array @map, added up over every CPU. */
static __always_inline void counters_sum(void *map, __u32 id, struct lb_counters *sum)
{
	struct lb_counters *c;
	__u32 cpu;

	for (cpu = 0; cpu < LB_MAX_CPUS; cpu++) {
		c = bpf_map_lookup_percpu_elem(map, &id, cpu);
		if (!c)
			break;	/* past the last possible CPU */
		sum->conns += c->conns;
		sum->inpkts += c->inpkts;
		sum->outpkts += c->outpkts;
		sum->inbytes += c->inbytes;
		sum->outbytes += c->outbytes;
	}
}

/* One step of an estimate: @rate scaled as the kernel scales it, 1/4 of the way. */
static __always_inline void estimate_step(__u64 *estimate, __u64 *last, __u64 now, int shift)
{
	__u64 rate = (now - *last) << shift;

	*last = now;
	*estimate += ((__s64)rate - (__s64)*estimate) >> 2;
}

/* estimation_timer()'s work for one service or real server. */
static __always_inline void estimate(struct lb_rate *r, const struct lb_counters *sum)
{
	/* connections and packets: scaled by 2^10, but divided by 2 seconds */
	estimate_step(&r->cps, &r->last_conns, sum->conns, 9);
	estimate_step(&r->inpps, &r->last_inpkts, sum->inpkts, 9);
	estimate_step(&r->outpps, &r->last_outpkts, sum->outpkts, 9);
	/* bytes: scaled by 2^5, but divided by 2 seconds */
	estimate_step(&r->inbps, &r->last_inbytes, sum->inbytes, 4);
	estimate_step(&r->outbps, &r->last_outbytes, sum->outbytes, 4);
}

static long estimate_service(void *map, struct lb_svc_key *key, struct lb_svc *svc, void *ctx)
{
	struct lb_counters sum = {};
	__u32 id = svc->id;
	struct lb_rate *r = bpf_map_lookup_elem(&lb_svc_rates, &id);

	if (r) {
		counters_sum(&lb_svc_stats, id, &sum);
		estimate(r, &sum);
	}
	return 0;
}

static long estimate_real(void *map, __u32 *id, struct lb_real *real, void *ctx)
{
	struct lb_counters sum = {};
	struct lb_rate *r;

	if (real->gen == 0 || real->svc_id == ~0U)
		return 0;	/* an id no service owns */
	r = bpf_map_lookup_elem(&lb_real_rates, id);
	if (r) {
		counters_sum(&lb_real_stats, *id, &sum);
		estimate(r, &sum);
	}
	return 0;
}

static __always_inline void estimate_all(struct lb_estimator *est)
{
	bpf_for_each_map_elem(&lb_services, estimate_service, NULL, 0);
	bpf_for_each_map_elem(&lb_reals, estimate_real, NULL, 0);
	__sync_fetch_and_add(&est->ticks, 1);
}

static int estimator_fired(void *map, __u32 *key, struct lb_estimator *est)
{
	estimate_all(est);
	bpf_timer_start(&est->timer, LB_ESTIMATOR_INTERVAL_NS, 0);
	return 0;
}

static __always_inline struct lb_estimator *the_estimator(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lb_estimator, &zero);
}

/* One estimation now. Returns: XDP_PASS, or XDP_ABORTED when lb_estimator is missing. */
static __always_inline int estimate_once(void)
{
	struct lb_estimator *est = the_estimator();

	if (!est)
		return XDP_ABORTED;
	estimate_all(est);
	return XDP_PASS;
}

/* Arm the timer (again: a timer already set up is only restarted). */
static __always_inline int estimator_start(void)
{
	struct lb_estimator *est = the_estimator();

	if (!est || arm_timer(&est->timer, &lb_estimator, estimator_fired, LB_ESTIMATOR_INTERVAL_NS))
		return XDP_ABORTED;
	est->armed = 1;
	return XDP_PASS;
}

#endif /* LB_ESTIMATOR_H */
