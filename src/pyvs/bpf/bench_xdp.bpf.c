// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark-only XDP programs for `pyvs bench` (per-packet cost); never
 * attached to an interface.
 *
 * BPF_PROG_TEST_RUN with repeat > 1 runs the program again and again on the
 * same frame, whatever the previous run made of it: the director would
 * encapsulate its own IPIP output (and run out of headroom after a dozen runs),
 * the decapsulation program would find a plain packet from the second run on.
 * So every program here first restores the frame to a template that Python
 * wrote into `bench` before the run, then does the work being measured:
 *
 *   bench_empty      nothing, XDP_TX: the test run's own loop
 *   bench_restore    restore only, XDP_TX: the wrapper's own cost
 *   bench_push_ipip  restore, push a constant 20-byte IPv4 header, XDP_TX: the floor
 *   bench_director   restore, then the director's code (director.h)
 *   bench_decap      restore, then the real-server decapsulation code (decap.h)
 *
 * The director and decapsulation code is the production code itself
 * (director.h, decap.h: the inline functions the production entry points
 * call), and the maps are the same maps: the loader reuses the ones pinned by
 * the production objects.
 */

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "director.h"
#include "decap.h"

/* struct bench_state: lb_shared.h (mirrored by pyvs.packet.abi.BenchState). */
struct bench_state bench;

/*
 * Make the frame this run's flow: client port = counter's low 16 bits, last
 * two bytes of the client address = its high 16 bits, so that 2^32 runs are
 * 2^32 different flows. The template must be an untagged IPv4 frame without
 * IP options. The IPv4 checksum is patched incrementally (RFC 1624, eqn. 3);
 * the TCP/UDP checksum is left stale, as the director never checks it (see
 * l4_check() in parsing.h). The counter is not incremented atomically: one
 * BPF_PROG_TEST_RUN call runs on one CPU, and Python never runs two at once.
 * Returns: 0, or -1 when the frame is not such a frame.
 */
static __always_inline int bench_rewrite_flow(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	__be16 *ports = (void *)(iph + 1);
	__u16 *saddr_low = (__u16 *)&iph->saddr + 1;
	__u32 n = bench.counter++;
	__u16 old_low, new_low;

	if ((void *)(ports + 2) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || iph->ihl != 5)
		return -1;
	old_low = *saddr_low;
	new_low = bpf_htons(n >> 16);
	*saddr_low = new_low;
	ports[0] = bpf_htons(n & 0xffff);
	/* Checksum words are summed as stored, so the byte order needs no care. */
	iph->check = csum_fold((__u32)(__u16)~iph->check + (__u16)~old_low + new_low);
	return 0;
}

/*
 * Copy the template over the frame, which is @len bytes long already: 8 bytes
 * at a time, then the last 8 bytes (overlapping; @len >= ETH_HLEN), which
 * Python keeps apart in bench.tail so that they load as one aligned word.
 * Inline loads and stores cost a third of bpf_xdp_store_bytes() here. This is
 * a global function, which the verifier checks once on its own: inlined, each
 * way out of the loop would have it check the whole director once more, past
 * its limit of a million instructions.
 * Returns: 0, or -1 when the frame is shorter than @len.
 */
__attribute__((noinline)) int bench_copy_template(struct xdp_md *ctx, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 i, last;

#pragma unroll
	for (i = 0; i < BENCH_TPL_MAX / 8; i++) {
		if (i * 8 + 8 > len)
			break;
		if (data + i * 8 + 8 > data_end)
			return -1;
		*(__u64 *)(data + i * 8) = *(__u64 *)&bench.tpl[i * 8];
	}
	last = len - 8;
	/* clang knows the caller's bounds of len, the verifier does not: keep this check. */
	asm volatile("" : "+r"(last));
	if (last > BENCH_TPL_MAX - 8 || data + last + 8 > data_end)
		return -1;
	*(__u64 *)(data + last) = bench.tail;
	return 0;
}

/*
 * Put the template frame back: move the front of the frame so that its length
 * is the template's again, then copy the template over it. Moving the front by
 * the difference in length undoes what the measured programs do to a frame
 * (they grow or shrink it at the front only; the tail moves only to cut
 * Ethernet padding, and the templates have none). adjust_head is called even
 * when the difference is 0, so that every program pays the same restore.
 * Returns: 0, or -1 when the template is unset or the frame cannot be restored.
 */
static __always_inline int bench_restore_frame(struct xdp_md *ctx)
{
	long cur_len = (long)ctx->data_end - (long)ctx->data;
	__u32 len = bench.tpl_len;

	/* The verifier allows only 64-bit arithmetic on packet pointers: keep clang
	 * from folding this difference into the 32-bit one below. */
	asm volatile("" : "+r"(cur_len));
	if (len < ETH_HLEN || len > BENCH_TPL_MAX)
		return -1;
	if (bpf_xdp_adjust_head(ctx, (int)(cur_len - (long)len)))
		return -1;
	if (bench_copy_template(ctx, len))
		return -1;
	if (bench.new_flow)
		return bench_rewrite_flow(ctx);
	return 0;
}

/* Nothing at all: the cost of BPF_PROG_TEST_RUN's loop around a program. */
SEC("xdp")
int bench_empty(struct xdp_md *ctx)
{
	return XDP_TX;
}

SEC("xdp")
int bench_restore(struct xdp_md *ctx)
{
	return bench_restore_frame(ctx) ? XDP_ABORTED : XDP_TX;
}

/*
 * The floor: the least an encapsulating XDP program does. Grow the frame by an
 * IPv4 header with the director's own helper (move_l2_header(): Ethernet header
 * moved to the new front), write a constant outer header (10.2.2.2 -> 10.3.3.3,
 * protocol 4, DF, TTL 64, sized for a 40-byte inner packet, checksum
 * precomputed), send it back out.
 */
SEC("xdp")
int bench_push_ipip(struct xdp_md *ctx)
{
	void *data, *data_end;
	struct iphdr *outer;

	if (bench_restore_frame(ctx))
		return XDP_ABORTED;
	if (move_l2_header(ctx, ETH_HLEN, -(int)sizeof(struct iphdr)))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer = data + ETH_HLEN;
	if ((void *)(outer + 1) > data_end)
		return XDP_ABORTED;
	*outer = (struct iphdr){
		.version = 4,
		.ihl = 5,
		.tot_len = bpf_htons(60),
		.frag_off = bpf_htons(IP_DF),
		.ttl = 64,
		.protocol = IPPROTO_IPIP,
		.check = bpf_htons(0x21b5),
		.saddr = bpf_htonl(0x0a020202),
		.daddr = bpf_htonl(0x0a030303),
	};
	return XDP_TX;
}

SEC("xdp")
int bench_director(struct xdp_md *ctx)
{
	if (bench_restore_frame(ctx))
		return XDP_ABORTED;
	return director_process(ctx);
}

SEC("xdp")
int bench_decap(struct xdp_md *ctx)
{
	if (bench_restore_frame(ctx))
		return XDP_ABORTED;
	return decap_process(ctx);
}

char _license[] SEC("license") = "GPL";
