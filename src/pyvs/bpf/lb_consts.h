/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the default capacities of the director's maps. The
 * loader may shrink or grow them before load (bpf_map__set_max_entries), so
 * the programs never depend on these numbers except lb_sched's stride.
 */
#ifndef LB_CONSTS_H
#define LB_CONSTS_H

#ifndef LB_MAX_SERVICES
#define LB_MAX_SERVICES 16384
#endif
/* One entry per (service, real server) pair: 16384 services of 8 real
 * servers each. lb_real_stats is per CPU: 40 bytes x this x possible CPUs. */
#ifndef LB_MAX_REALS
#define LB_MAX_REALS 131072
#endif
#ifndef LB_MAX_FLOWS
#define LB_MAX_FLOWS 262144
#endif
#define LB_MAX_DECAP_ADDRS 256
/* Datagrams in fragments whose first fragment went and whose others may still
 * come (lb_frags, an LRU: the oldest go first). */
#define LB_MAX_FRAGS 16384
/* How long a datagram's later fragments follow its first (Linux's ipfrag_time). */
#define LB_FRAG_TIMEOUT_S 30
/* Services with the mh scheduler: each has two tables of LB_MH_TABLE_SIZE
 * real ids in lb_mh (2 x 4093 x 4 bytes). */
#define LB_MAX_MH_SERVICES 64

#define NSEC_PER_SEC 1000000000ULL

/* How often the sweeper walks the flow table: the most an expired flow goes
 * on counting in lb_conns (plus the walk itself). */
#define LB_SWEEP_INTERVAL_NS NSEC_PER_SEC

/* An lblc or lblcr cache entry unused this long is gone (IPVS's
 * lblc_expiration and lblcr_expiration sysctls' default: 24 hours); so is,
 * after as long without a change, the most loaded member of an lblcr set. */
#define LB_LBLC_EXPIRATION_NS (24 * 60 * 60 * NSEC_PER_SEC)

/* The rate estimator's period: IPVS's (2 * HZ). */
#define LB_ESTIMATOR_INTERVAL_NS (2 * NSEC_PER_SEC)
/* CPUs whose per-CPU counters the estimator adds up, at most. */
#define LB_MAX_CPUS 1024

/* The director's bpf_fib_lookup() flags: none. BPF_FIB_LOOKUP_SRC (Linux 6.7)
 * is not used: the outer source address is in each real server's entry.
 * probe_xdp.bpf.c asks the kernel with the same flags before the director loads. */
#define LB_FIB_LOOKUP_FLAGS 0

#endif /* LB_CONSTS_H */
