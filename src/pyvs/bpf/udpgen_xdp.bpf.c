// SPDX-License-Identifier: GPL-2.0
/*
 * A UDP traffic generator for the benchmarks (pyvs.lab.udpgen), run with
 * BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES: the kernel hands this
 * program page-pool frames initialised from the caller's data, and what it
 * returns XDP_TX for is transmitted out of ctx->ingress_ifindex.
 *
 * Every frame is a 64-byte Ethernet frame on the wire: 60 bytes here
 * (Ethernet 14 + IPv4 20 + UDP 8 + payload 18) plus the 4-byte FCS that a
 * NIC would append (a veth carries the 60 bytes only). The payload is the
 * frame's 64-bit sequence number, big-endian, then 10 zero bytes.
 *
 * The live-frames pages are recycled with whatever the previous run left
 * in them, so the program writes all 60 bytes every time instead of
 * trusting the template; the frame must be exactly 60 bytes long.
 * The source port cycles over gen.sources values from gen.sport_base; each
 * time it wraps, the source address moves on to the next of gen.addrs
 * addresses from gen.saddr (so with addrs > 1 flows keep being new); the
 * IPv4 identification is the sequence number's low 16 bits (so consecutive
 * frames differ, and the header checksum is really computed per frame);
 * DF is set; the UDP checksum is 0 (none, allowed for UDP over IPv4).
 *
 * Userspace sets `gen` (one struct, the whole .bss) before running; the
 * program advances gen.next_source and gen.sequence. These are plain
 * increments: BPF_PROG_TEST_RUN runs a program on one CPU, and one
 * generator process uses one loaded copy of the program.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"

#define GEN_FRAME_LEN 60
#define GEN_PAYLOAD_LEN (GEN_FRAME_LEN - sizeof(struct ethhdr) - sizeof(struct iphdr) - sizeof(struct udphdr))
#define GEN_IP_DF 0x4000
#define GEN_TTL 64

/* struct udpgen_state: lb_shared.h (mirrored by pyvs.packet.abi.UdpgenState). */
_Static_assert(GEN_PAYLOAD_LEN == 18, "64-byte frames carry 18 bytes of UDP payload");

struct udpgen_state gen;

/* The one's-complement sum of the 20-byte header, folded and inverted (RFC 1071). */
static __always_inline __u16 ipv4_csum(const struct iphdr *iph)
{
	const __u16 *word = (const __u16 *)iph;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += word[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int udpgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct udphdr *udp = (void *)(iph + 1);
	__u8 *payload = (void *)(udp + 1);
	__u64 seq = gen.sequence;
	__u32 source = gen.next_source;
	__u32 sources = gen.sources ? gen.sources : 1;
	__u32 addr = gen.next_addr;
	__u32 addrs = gen.addrs ? gen.addrs : 1;

	/* The verifier learns the bound from the second test only ("!=" tells it nothing). */
	if (bpf_xdp_get_buff_len(ctx) != GEN_FRAME_LEN || data + GEN_FRAME_LEN > data_end)
		return XDP_ABORTED;
	if (source >= sources)	/* userspace changed `sources` under us */
		source = 0;
	if (addr >= addrs)
		addr = 0;

	__builtin_memcpy(eth->h_dest, gen.dst_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, gen.src_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	iph->version = 4;
	iph->ihl = sizeof(*iph) / 4;
	iph->tos = 0;
	iph->tot_len = bpf_htons(GEN_FRAME_LEN - sizeof(*eth));
	iph->id = bpf_htons((__u16)seq);
	iph->frag_off = bpf_htons(GEN_IP_DF);
	iph->ttl = GEN_TTL;
	iph->protocol = IPPROTO_UDP;
	iph->check = 0;
	iph->saddr = bpf_htonl(bpf_ntohl(gen.saddr) + addr);
	iph->daddr = gen.daddr;
	iph->check = ipv4_csum(iph);

	udp->source = bpf_htons((__u16)(gen.sport_base + source));
	udp->dest = gen.dport;
	udp->len = bpf_htons(sizeof(*udp) + GEN_PAYLOAD_LEN);
	udp->check = 0;

	*(__be64 *)payload = bpf_cpu_to_be64(seq);
	__builtin_memset(payload + 8, 0, GEN_PAYLOAD_LEN - 8);

	gen.next_source = source + 1 < sources ? source + 1 : 0;
	if (!gen.next_source)
		gen.next_addr = addr + 1 < addrs ? addr + 1 : 0;
	gen.sequence = seq + 1;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
