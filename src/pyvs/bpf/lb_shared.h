/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains every struct, enum and constant that the BPF programs
 * share with Python. It is the single source of these layouts: the Python
 * mirror in pyvs/packet/abi.py is checked against the BTF of the compiled
 * objects by tests/abi. Rules: fixed-width types only, explicit padding, no
 * bitfields, network byte order only in fields typed __be*.
 */
#ifndef LB_SHARED_H
#define LB_SHARED_H

#include <linux/types.h>
#include <linux/bpf.h>	/* struct bpf_timer */

/* Slots per bank of a service's schedule (see lb_sched in lb_maps.h). */
enum lb_limits {
	LB_SCHED_SLOTS = 256,
	LB_MH_TABLE_SIZE = 4093,	/* IPVS's IP_VS_MH_TAB_SIZE (CONFIG_IP_VS_MH_TAB_INDEX 12) */
};

/* Scheduling algorithm of a service (model.enums.Scheduler). */
enum lb_sched_kind {
	LB_SCHED_RR = 0,
	LB_SCHED_WRR = 1,
	LB_SCHED_SH = 2,
	LB_SCHED_DH = 3,
	LB_SCHED_MH = 4,
	LB_SCHED_FO = 5,
	/* The schedulers that read connection counts (lb_conns) walk the real
	 * servers in kernel list order, which the service's live bank holds. */
	LB_SCHED_WLC = 6,
	LB_SCHED_LC = 7,
	LB_SCHED_SED = 8,
	LB_SCHED_NQ = 9,
	LB_SCHED_OVF = 10,
	LB_SCHED_TWOS = 11,	/* the same list, two real servers drawn at random by weight */
	LB_SCHED_LBLC = 12,	/* the same list, and a cache per destination address (lb_lblc) */
	LB_SCHED_LBLCR = 13,
};

/* Forwarding method, numbered as IPVS's IP_VS_CONN_F_* (model.enums.FwdMethod). */
enum lb_fwd_method {
	LB_FWD_MASQ = 0,
	LB_FWD_LOCALNODE = 1,
	LB_FWD_TUNNEL = 2,
	LB_FWD_DROUTE = 3,
};

/* Flags of a service, valued as IPVS's IP_VS_SVC_F_*. */
enum lb_svc_flag {
	LB_SVC_F_PERSISTENT = 0x01,
	LB_SVC_F_ONEPACKET = 0x04,	/* UDP: every packet scheduled on its own, no flow kept (-o) */
	LB_SVC_F_SCHED1 = 0x08,		/* sh, mh: fall back to another bucket (sh-, mh-fallback) */
	LB_SVC_F_SCHED2 = 0x10,		/* sh, mh: hash the client's port too (sh-, mh-port) */
	LB_SVC_F_SCHED3 = 0x20,
};

/*
 * The sh and dh schedulers' hash, as the kernel's (ip_vs_sh.c, ip_vs_dh.c):
 * (offset + (port + address) * LB_HASH_MULTIPLIER) mod LB_SCHED_SLOTS, host order.
 */
#define LB_HASH_MULTIPLIER 2654435761u
/* Both words of the mh scheduler's first hsiphash key (ip_vs_mh.c's generate_hash_secret()). */
#define LB_MH_HASH1 2654435761ULL

/* Connection state, as IPVS tracks input-only (tunnel) connections. */
enum lb_flow_state {
	LB_FLOW_NONE = 0,
	LB_FLOW_ESTABLISHED = 1,
	LB_FLOW_SYN_RECV = 2,
	LB_FLOW_FIN_WAIT = 3,
	LB_FLOW_TIME_WAIT = 4,
	LB_FLOW_CLOSE = 5,
	LB_FLOW_UDP = 6,
	LB_FLOW_MAX = 7,	/* entries of lb_timeouts */
};

/* Why the director dropped a frame: index into lb_drops. */
enum lb_drop_reason {
	LB_DROP_NONE = 0,
	LB_DROP_BAD_IP_HEADER = 1,
	LB_DROP_BAD_IP_CHECKSUM = 2,
	LB_DROP_FRAGMENT = 3,
	LB_DROP_BAD_L4_HEADER = 4,
	LB_DROP_TTL_EXCEEDED = 5,
	LB_DROP_NO_REAL_SERVER = 6,
	LB_DROP_NO_HEADROOM = 7,
	LB_DROP_NO_ROUTE = 8,
	LB_DROP_FRAG_NEEDED = 9,
	LB_DROP_FLOW_TABLE_FULL = 10,
	LB_DROP_FLOW_BUSY = 11,		/* another CPU was replacing this flow's entry at that instant */
	LB_DROP_REAL_SERVER_GONE = 12,	/* a packet of a connection whose real server was removed
					 * (IPVS drops them too; see LB_SETTING_DRAIN) */
	LB_DROP_MAX = 13,
};

/* pyvs's own switches: index into lb_settings, each 0 (off, the default) or 1. */
enum lb_setting {
	/* The program runs in generic (skb) mode: the kernel still finishes the
	 * checksums a local sender left to offload, so the program must not. */
	LB_SETTING_SKB_MODE = 0,
	/* Packets of connections whose real server was removed keep going to it
	 * until the connection ends or times out, instead of being dropped. */
	LB_SETTING_DRAIN = 1,
	LB_SETTING_MAX = 2,
};

/* ICMP errors about a virtual service's flows: index into lb_icmp. */
enum lb_icmp_counter {
	LB_ICMP_FWD_UNREACH = 0,	/* destination unreachable (but fragmentation needed), forwarded */
	LB_ICMP_FWD_FRAG_NEEDED = 1,	/* fragmentation needed, forwarded */
	LB_ICMP_FWD_TIME_EXCEEDED = 2,	/* time exceeded, forwarded */
	LB_ICMP_PASSED = 3,		/* no flow and no hash to place it: passed to the kernel */
	LB_ICMP_MAX = 4,
};

/* Idle timeouts of flows per state, in seconds (IPVS's defaults). */
enum lb_flow_timeout {
	LB_TIMEOUT_NONE = 2,
	LB_TIMEOUT_ESTABLISHED = 900,
	LB_TIMEOUT_SYN_RECV = 60,
	LB_TIMEOUT_FIN_WAIT = 120,
	LB_TIMEOUT_TIME_WAIT = 120,
	LB_TIMEOUT_CLOSE = 10,
	LB_TIMEOUT_UDP = 300,
};

/* Counters of the real-server decapsulation program: index into lb_decap_stats. */
enum lb_decap_counter {
	LB_DECAP_PACKETS = 0,
	LB_DECAP_BYTES = 1,
	LB_DECAP_DROPPED = 2,
	LB_DECAP_MAX = 3,
};

/* Key of lb_services: what identifies a virtual service (ServiceKey). */
struct lb_svc_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};
_Static_assert(sizeof(struct lb_svc_key) == 8, "lb_svc_key ABI");

/* Value of lb_services. */
struct lb_svc {
	__u32 id;		/* index into lb_svc_stats and lb_sched */
	__u32 flags;		/* enum lb_svc_flag */
	__u32 timeout;		/* persistence timeout, seconds */
	__u8 sched;		/* enum lb_sched_kind */
	__u8 bank;		/* live half of this service's lb_sched slots */
	__u16 sched_len;	/* live slots; 0 = no real server can take new flows */
	/* Control plane only: the scheduler's state as of the last change, so
	 * that the next change resumes the sequence as IPVS would. */
	__u32 sched_start;	/* lb_sched_pos written at the last change */
	__u32 sched_state;	/* rr: real id of the cursor (~0: list head); wrr: current weight */
	/* sh, dh: lb_sched's bank holds the kernel's 256-bucket table of real ids */
	__u32 table;		/* mh: the service's place in lb_mh (its table's slot) */
	__be32 netmask;		/* persistence granularity (ipvsadm -M): a template is per
				 * client address & netmask; ~0 by default */
};
_Static_assert(sizeof(struct lb_svc) == 32, "lb_svc ABI");

/* Value of lb_reals, indexed by real server id. */
struct lb_real {
	__be32 addr;
	__be16 port;
	__u8 fwd;		/* enum lb_fwd_method */
	__u8 pad;
	__u32 svc_id;		/* service this real server belongs to; ~0 = id free */
	__u32 weight;
	__u32 gen;		/* from a counter that only grows, set when the id is
				 * given out and kept when freed, so that no flow of a
				 * removed real server matches its successor; 0 = never used */
	__be32 saddr;		/* outer source address toward it: the kernel's choice
				 * for the route to addr (`ip route get`), resolved by the
				 * control plane; 0 = no route when last resolved */
	__u32 last_weight;	/* control plane only: the last weight other than 0
				 * (IPVS's last_weight, which mh builds its table from) */
	__u32 u_threshold;	/* ipvsadm -x: overloaded from this many connections; 0 = none */
	__u32 l_threshold;	/* ipvsadm -y: not overloaded again below this many; 0 = 3/4 of -x */
	__u32 overload_epoch;	/* what lb_conns.overload holds while overloaded (from 1); the
				 * control plane moves it on to clear the flag (conns.h) */
};
_Static_assert(sizeof(struct lb_real) == 40, "lb_real ABI");

/*
 * Value of lb_conns, indexed by real server id: its connections as IPVS
 * counts them (ip_vs_bind_dest, ip_vs_unbind_dest, set_tcp_state). Written by
 * the data path only, atomically; the control plane zeroes an id's entry
 * before giving the id out.
 */
struct lb_conns {
	__u32 active;		/* flows in state ESTABLISHED (ActiveConn) */
	__u32 inactive;		/* every other flow (InActConn) */
	__u32 overload;		/* lb_real.overload_epoch: IPVS's IP_VS_DEST_F_OVERLOAD (-x
				 * reached, -y not yet); anything else: not overloaded */
	__u32 pad;
};
_Static_assert(sizeof(struct lb_conns) == 16, "lb_conns ABI");

/* Key of lb_flows: the client's 5-tuple toward the VIP. */
struct lb_flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};
_Static_assert(sizeof(struct lb_flow_key) == 16, "lb_flow_key ABI");

/* Value of lb_flows: where the flow goes and how alive it is. */
struct lb_flow {
	__u64 last_seen_ns;	/* bpf_ktime_get_ns() of the last packet */
	__u32 real_id;
	__u32 real_gen;		/* lb_real.gen when the flow was scheduled */
	__u32 svc_id;
	/* state and counted are one 32-bit word for compare-and-swap (conns.h's flow_word()) */
	__u8 state;		/* enum lb_flow_state */
	__u8 counted;		/* 1: the flow counts in lb_conns[real_id]; 0: another CPU or the
				 * sweeper is taking it over or deleting it */
	__u8 pad[2];
};
_Static_assert(sizeof(struct lb_flow) == 24, "lb_flow ABI");

/* Key of lb_frags: the fragments of one IPv4 datagram (RFC 791's identification). */
struct lb_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 proto;
	__u8 pad;
};
_Static_assert(sizeof(struct lb_frag_key) == 12, "lb_frag_key ABI");

/* Value of lb_frags: the real server that the datagram's first fragment went to. */
struct lb_frag {
	__u64 seen_ns;		/* when the first fragment went: the later ones follow it
				 * for LB_FRAG_TIMEOUT_S (Linux's ipfrag_time) */
	__u32 real_id;
	__u32 real_gen;
	__u32 svc_id;
	__u32 pad;
};
_Static_assert(sizeof(struct lb_frag) == 24, "lb_frag ABI");

/*
 * Value of lb_svc_rates and lb_real_rates: IPVS's rate estimator (ip_vs_est.c)
 * of one service or real server, which estimator.h updates every 2 seconds
 * from the counters: the rates are scaled (per second, by 2^10 for
 * connections and packets, 2^5 for bytes) and smoothed (1/4 of each new
 * sample), as the kernel's are.
 */
struct lb_rate {
	__u64 last_conns;
	__u64 last_inpkts;
	__u64 last_outpkts;
	__u64 last_inbytes;
	__u64 last_outbytes;
	__u64 cps;
	__u64 inpps;
	__u64 outpps;
	__u64 inbps;
	__u64 outbps;
};
_Static_assert(sizeof(struct lb_rate) == 80, "lb_rate ABI");

/* Real servers an lblcr cache entry holds at most (IPVS's sets have no bound). */
#define LB_LBLC_SET_MAX 8

/* Key of lb_lblc: one destination address of an lblc or lblcr service. */
struct lb_lblc_key {
	__u32 svc_id;
	__be32 daddr;
};
_Static_assert(sizeof(struct lb_lblc_key) == 8, "lb_lblc_key ABI");

/*
 * Value of lb_lblc: the real server (lblc) or the set of real servers
 * (lblcr, newest first) that connections to the address go to, as
 * ip_vs_lblc.c's and ip_vs_lblcr.c's entries; a member is a real server id
 * and the generation it had (a removed one is never available again).
 */
struct lb_lblc {
	__u64 lastuse_ns;	/* the last connection scheduled through it */
	__u64 lastmod_ns;	/* lblcr: when the set last changed */
	__u32 size;		/* members in use, from index 0 */
	__u32 pad;
	__u32 real_id[LB_LBLC_SET_MAX];
	__u32 real_gen[LB_LBLC_SET_MAX];
};
_Static_assert(sizeof(struct lb_lblc) == 88, "lb_lblc ABI");

/* Value of lb_estimator's one entry: the estimator's timer and what it did. */
struct lb_estimator {
	struct bpf_timer timer;
	__u64 ticks;		/* estimations done */
	__u64 armed;		/* 1 once started: pyvsadm -L --rate shows rates only then */
};
_Static_assert(sizeof(struct lb_estimator) == 32, "lb_estimator ABI");

/* Value of lb_sweeper's one entry: the timer that expires flows, and what it did. */
struct lb_sweeper {
	struct bpf_timer timer;
	__u64 sweeps;		/* sweeps done */
	__u64 expired;		/* flows they deleted */
};
_Static_assert(sizeof(struct lb_sweeper) == 32, "lb_sweeper ABI");

/* Key of lb_persist: one client of a persistent service (ipvsadm -p). */
struct lb_persist_key {
	__u32 svc_id;
	__be32 client;
};
_Static_assert(sizeof(struct lb_persist_key) == 8, "lb_persist_key ABI");

/* Value of lb_persist: the real server this client's new connections go to. */
struct lb_persist {
	__u64 last_seen_ns;
	__u32 real_id;
	__u32 real_gen;
};
_Static_assert(sizeof(struct lb_persist) == 16, "lb_persist ABI");

/* Per-CPU value of lb_svc_stats and lb_real_stats (ipvsadm --stats). */
struct lb_counters {
	__u64 conns;
	__u64 inpkts;
	__u64 inbytes;
	__u64 outpkts;
	__u64 outbytes;
};
_Static_assert(sizeof(struct lb_counters) == 40, "lb_counters ABI");

/*
 * probe_xdp's frame (pyvs/dataplane/features.py): a bpf_fib_lookup() question
 * in its first bytes, the kernel's answer written back over them.
 */
struct lb_fib_probe {
	__be32 dst;		/* in: the destination to look up */
	__u32 tot_len;		/* in: the packet length to check against the route's MTU */
	__s32 rc;		/* out: what bpf_fib_lookup() returned */
	__u32 mtu_result;	/* out: what it left in mtu_result (tot_len's union twin) */
};
_Static_assert(sizeof(struct lb_fib_probe) == 16, "lb_fib_probe ABI");

/*
 * The tools' structs: the benchmark wrappers (bench_xdp.bpf.c), the UDP
 * generator (udpgen_xdp.bpf.c) and the in-kernel Maglev build
 * (maglev_build.bpf.c). Not the director's ABI, but shared with Python all
 * the same, so they live here and tests/abi checks their mirrors too.
 */
#define BENCH_TPL_MAX 128

/* bench_xdp's global (its .bss): the run's parameters and the new-flow counter. */
struct bench_state {
	__u32 tpl_len;		/* bytes of tpl in use; outside [ETH_HLEN, BENCH_TPL_MAX]: abort */
	__u32 new_flow;		/* 1: each run rewrites the client's address and port */
	__u32 counter;		/* runs done in new-flow mode (the next run's flow number) */
	__u32 pad;
	__u64 tail;		/* the last 8 bytes of the template */
	__u8 tpl[BENCH_TPL_MAX];	/* the frame every run starts from */
};
_Static_assert(sizeof(struct bench_state) == 152, "bench_state ABI");

/* udpgen_xdp's global (its .bss): what every frame carries, and where the run stands. */
struct udpgen_state {
	__u8 dst_mac[6];
	__u8 src_mac[6];
	__be32 saddr;
	__be32 daddr;
	__u16 sport_base;	/* host order: the program adds to it */
	__be16 dport;
	__u32 sources;		/* how many source ports; 0 counts as 1 */
	__u32 next_source;	/* 0 .. sources-1: the next frame's port is sport_base + this */
	__u32 addrs;		/* how many source addresses; 0 counts as 1 */
	__u32 next_addr;	/* 0 .. addrs-1: the next frame's address is saddr + this */
	__u64 sequence;		/* frames built so far */
};
_Static_assert(sizeof(struct udpgen_state) == 48, "udpgen_state ABI");

/* Value of maglev_backends: one backend's permutation and turn. */
struct maglev_backend {
	__u32 offset; /* in: first slot of its permutation, < m */
	__u32 skip;   /* in: step through the permutation, 1 .. m-1 */
	__u32 turns;  /* in: slots claimed in a row per round; 0: none */
	__u32 next;   /* loop state: the next slot to try */
};
_Static_assert(sizeof(struct maglev_backend) == 16, "maglev_backend ABI");

/* maglev_build's context: BPF_PROG_TEST_RUN copies it back to user space. */
struct maglev_args {
	__u32 m;      /* in: table size, prime, <= maglev_table's max_entries */
	__u32 n;      /* in: backends in maglev_backends[0 .. n) */
	__u32 budget; /* in: bpf_loop iterations allowed in this run; 0 or > 1 << 23: 1 << 23 */
	__u32 start;  /* in: 1 starts a build, 0 goes on with the one under way */
	__u32 done;   /* out: 1 once every slot is claimed */
	__u32 filled; /* out: slots claimed so far */
	__u64 probes; /* out: slots tested since the start */
};
_Static_assert(sizeof(struct maglev_args) == 32, "maglev_args ABI");

#endif /* LB_SHARED_H */
