// SPDX-License-Identifier: GPL-2.0
/*
 * The rate estimator's programs (estimator.h), run by BPF_PROG_TEST_RUN and
 * never attached; loaded by `pyvs director attach` on kernels from 5.19.
 */
#include "estimator.h"

SEC("xdp")
int lb_estimate(struct xdp_md *ctx)
{
	return estimate_once();
}

SEC("xdp")
int lb_estimator_start(struct xdp_md *ctx)
{
	return estimator_start();
}

char _license[] SEC("license") = "GPL";
