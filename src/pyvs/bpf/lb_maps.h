/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the director's maps. All are pinned by name under the
 * loader's pin root, so they outlive any process: pyvsadm reads and writes them.
 */
#ifndef LB_MAPS_H
#define LB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_shared.h"
#include "lb_consts.h"

/* lb_svc_key -> lb_svc: the virtual services. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_svc_key);
	__type(value, struct lb_svc);
	__uint(max_entries, LB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_services SEC(".maps");

/* VIP address -> number of services on it: tells malformed VIP traffic apart. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, __u32);
	__uint(max_entries, LB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_vip_addrs SEC(".maps");

/* real server id -> lb_real. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_real);
	__uint(max_entries, LB_MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_reals SEC(".maps");

/*
 * ((svc id * 2 + bank) * LB_SCHED_SLOTS + slot) -> real server id: each
 * service's schedule (the rr/wrr sequence computed in Python), double-buffered
 * so that a rewrite never shows a half-written sequence.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, LB_MAX_SERVICES * 2 * LB_SCHED_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_sched SEC(".maps");

/*
 * ((svc table slot * 2 + bank) * LB_MH_TABLE_SIZE + bucket) -> real server id:
 * the mh services' Maglev tables, double-buffered like lb_sched.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, LB_MAX_MH_SERVICES * 2 * LB_MH_TABLE_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_mh SEC(".maps");

/* svc id -> position in its schedule, advanced atomically per new flow. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, LB_MAX_SERVICES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_sched_pos SEC(".maps");

/*
 * lb_flow_key -> lb_flow: the connection table. A plain hash, not an LRU: an
 * entry leaves only when the sweeper (sweeper.h) or a new connection on its
 * 5-tuple has taken it out of lb_conns, so the counts the schedulers read stay
 * exact; when it is full, new TCP connections are dropped (LB_DROP_FLOW_TABLE_FULL)
 * and UDP packets go on untracked, scheduled one by one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_flow_key);
	__type(value, struct lb_flow);
	__uint(max_entries, LB_MAX_FLOWS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_flows SEC(".maps");

/* real server id -> lb_conns: its active and inactive connections, overloaded or not. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_conns);
	__uint(max_entries, LB_MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_conns SEC(".maps");

/* enum lb_flow_state -> idle timeout in seconds (ipvsadm --set); 0 = IPVS's default. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, LB_FLOW_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_timeouts SEC(".maps");

/* 0 -> lb_sweeper: the timer that expires flows (sweeper.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_sweeper);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_sweeper SEC(".maps");

/* (svc id, destination address) -> lb_lblc: the lblc and lblcr schedulers' caches. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb_lblc_key);
	__type(value, struct lb_lblc);
	__uint(max_entries, LB_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_lblc SEC(".maps");

/* svc id -> lb_rate: each service's rate estimator (estimator.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_rate);
	__uint(max_entries, LB_MAX_SERVICES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_svc_rates SEC(".maps");

/* real server id -> lb_rate. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_rate);
	__uint(max_entries, LB_MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_real_rates SEC(".maps");

/* 0 -> lb_estimator: the timer that updates the rates (estimator.h); its programs are
 * estimator_xdp.bpf.c's, which need Linux 5.19, the director's maps do not. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_estimator);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_estimator SEC(".maps");

/* lb_persist_key -> lb_persist: persistence templates of persistent services. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb_persist_key);
	__type(value, struct lb_persist);
	__uint(max_entries, LB_MAX_FLOWS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_persist SEC(".maps");

/* svc id -> per-CPU lb_counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_counters);
	__uint(max_entries, LB_MAX_SERVICES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_svc_stats SEC(".maps");

/* real server id -> per-CPU lb_counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_counters);
	__uint(max_entries, LB_MAX_REALS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_real_stats SEC(".maps");

/* enum lb_setting -> 0 or 1: pyvs's own switches, written at attach. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, LB_SETTING_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_settings SEC(".maps");

/* (source, destination, protocol, IP id) -> lb_frag: where the fragments of a datagram go. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb_frag_key);
	__type(value, struct lb_frag);
	__uint(max_entries, LB_MAX_FRAGS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_frags SEC(".maps");

/* enum lb_icmp_counter -> per-CPU count of ICMP errors about virtual services' flows. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, LB_ICMP_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_icmp SEC(".maps");

/* enum lb_drop_reason -> per-CPU count of dropped frames. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, LB_DROP_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_drops SEC(".maps");

#endif /* LB_MAPS_H */
