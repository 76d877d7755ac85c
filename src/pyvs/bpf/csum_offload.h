/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the completion of TCP and UDP checksums that a sender on
 * the same host left to offload. A veth (and any device that hands the
 * kernel's socket buffers on) delivers CHECKSUM_PARTIAL packets whose checksum
 * field holds only the sum of the pseudo-header (the kernel's
 * ~csum_tcpudp_magic()): the device that finally sends the packet out is to
 * finish it. Once XDP_TX or a redirect has made the packet a bare frame,
 * nothing does, and the real server gets a wrong checksum. So the director
 * finishes it when the field holds exactly that sum, just before it sends
 * the frame itself (never before it passes a packet to the kernel, which
 * still knows and finishes it; never in generic mode, where the socket
 * buffer goes on with its state). A complete checksum that happens to equal
 * the pseudo-header's sum (1 packet in 65,536) comes out of the same
 * arithmetic unchanged: sum(segment) + pseudo = 0 makes ~(sum(segment)) the
 * field itself.
 */
#ifndef LB_CSUM_OFFLOAD_H
#define LB_CSUM_OFFLOAD_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "csum.h"
#include "parsing.h"

/* The pseudo-header's sum (RFC 793), folded and not inverted: what a sender
 * that leaves the checksum to offload writes into the field. */
static __always_inline __u16 pseudo_header_sum(const struct iphdr *iph, __u32 l4_len)
{
	__u32 sum = (iph->saddr & 0xffff) + (iph->saddr >> 16) + (iph->daddr & 0xffff) +
		    (iph->daddr >> 16) + bpf_htons((__u16)iph->protocol) + bpf_htons((__u16)l4_len);

	return (__u16)~csum_fold(sum);
}

/**
 * offloaded_csum_at() - where the checksum field of a TCP or UDP packet is,
 * when it holds only the pseudo-header's sum (0 and 0xffff are one's
 * complement's two zeros, and a sender may write either).
 * Returns: the field's offset in the frame, or 0 when the checksum is not
 * left to offload (or a UDP packet has none).
 */
static __always_inline __u32 offloaded_csum_at(void *data, void *data_end, const struct lb_frame *frame)
{
	struct iphdr *iph = ipv4_at(data, data_end, frame->l3_off);
	__u32 at, l4_len;
	__u16 *field, pseudo;

	if (!iph)
		return 0;
	at = frame->l4_off + (iph->protocol == IPPROTO_TCP ? __builtin_offsetof(struct tcphdr, check)
							   : __builtin_offsetof(struct udphdr, check));
	if (at > LB_CSUM_MAX_OFF)
		return 0;
	field = data + bounded(at, 0xff);
	if ((void *)(field + 1) > data_end)
		return 0;
	if (iph->protocol == IPPROTO_UDP && *field == 0)
		return 0;
	l4_len = frame->l3_len - (frame->l4_off - frame->l3_off);
	pseudo = pseudo_header_sum(iph, l4_len);
	if (*field == pseudo)
		return at;
	if ((*field == 0 || *field == 0xffff) && (pseudo == 0 || pseudo == 0xffff))
		return at;
	return 0;
}

/* Finish the checksum whose field is at @at (from offloaded_csum_at()). */
static __always_inline void finish_offloaded_csum(struct xdp_md *ctx, const struct lb_frame *frame, __u32 at)
{
	__u32 l4_len = frame->l3_len - (frame->l4_off - frame->l3_off);
	long sum = csum_packet(ctx, frame->l4_off, l4_len);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = ipv4_at(data, data_end, frame->l3_off);
	__u16 *field, folded;

	if (sum < 0 || !iph || at > LB_CSUM_MAX_OFF)
		return;
	field = data + bounded(at, 0xff);
	if ((void *)(field + 1) > data_end)
		return;
	folded = csum_fold((__u32)sum);
	if (iph->protocol == IPPROTO_UDP && folded == 0)
		folded = 0xffff;	/* UDP's 0 means "no checksum" */
	*field = folded;
}

#endif /* LB_CSUM_OFFLOAD_H */
