// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiates every struct and enum of lb_shared.h so that their layouts
 * appear in this object's BTF; tests/abi compares them with pyvs/packet/abi.py.
 */
#include "lb_shared.h"

struct lb_layout {
	struct lb_svc_key svc_key;
	struct lb_svc svc;
	struct lb_real real;
	struct lb_flow_key flow_key;
	struct lb_flow flow;
	struct lb_conns conns;
	struct lb_sweeper sweeper;
	struct lb_rate rate;
	struct lb_lblc_key lblc_key;
	struct lb_lblc lblc;
	struct lb_estimator estimator;
	struct lb_persist_key persist_key;
	struct lb_persist persist;
	struct lb_counters counters;
	struct lb_fib_probe fib_probe;
	enum lb_limits limits;
	enum lb_sched_kind sched_kind;
	enum lb_fwd_method fwd_method;
	enum lb_svc_flag svc_flag;
	enum lb_flow_state flow_state;
	enum lb_flow_timeout flow_timeout;
	enum lb_drop_reason drop_reason;
	enum lb_decap_counter decap_counter;
	struct bench_state bench_state;
	struct udpgen_state udpgen_state;
	struct maglev_backend maglev_backend;
	struct maglev_args maglev_args;
};

struct lb_layout lb_layout_anchor __attribute__((section(".data"), used));
