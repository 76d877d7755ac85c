/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains IPv4-in-IPv4 encapsulation as an IPVS director does it in
 * tunnel mode: the inner packet is forwarded as a router would (TTL - 1,
 * checksum updated), the outer header copies TOS, DF and TTL from it.
 * Return convention: 0 on success, a positive enum lb_drop_reason otherwise.
 */
#ifndef LB_ENCAP_IPIP_H
#define LB_ENCAP_IPIP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "csum.h"
#include "lb_shared.h"
#include "parsing.h"
#include "reshape.h"

/* Decrement the TTL and patch the checksum exactly as the kernel's ip_decrease_ttl(). */
static __always_inline void ipv4_decrease_ttl(struct iphdr *iph)
{
	__u32 check = (__u32)iph->check;

	check += (__u32)bpf_htons(0x0100);
	iph->check = (__sum16)(check + (check >= 0xFFFF));
	iph->ttl--;
}

/**
 * encap_ipip4() - wrap the IPv4 packet at frame->l3_off into an outer IPv4
 * header toward @real_addr, keeping the L2 header in front.
 * The outer source is filled in later, from the real server's entry (see director.h).
 * Returns: 0, or LB_DROP_NO_HEADROOM when the frame cannot grow.
 */
static __always_inline int encap_ipip4(struct xdp_md *ctx, const struct lb_frame *frame,
				       __be32 real_addr)
{
	void *data, *data_end;
	struct iphdr *inner, *outer;
	__u32 l2_len = frame->l3_off;
	__u16 inner_len;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	inner = ipv4_at(data, data_end, l2_len);
	if (!inner)
		return LB_DROP_BAD_IP_HEADER;
	ipv4_decrease_ttl(inner);

	if (move_l2_header(ctx, l2_len, -(int)sizeof(struct iphdr)))
		return LB_DROP_NO_HEADROOM;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer = ipv4_at(data, data_end, l2_len);
	if (!outer)
		return LB_DROP_NO_HEADROOM;
	inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > data_end)
		return LB_DROP_NO_HEADROOM;
	inner_len = bpf_ntohs(inner->tot_len);

	outer->version = 4;
	outer->ihl = sizeof(*outer) / 4;
	outer->tos = inner->tos;
	outer->tot_len = bpf_htons(inner_len + sizeof(*outer));
	if (inner->frag_off & bpf_htons(IP_DF)) {
		outer->id = 0;
		outer->frag_off = bpf_htons(IP_DF);
	} else {
		outer->id = inner->id;
		outer->frag_off = 0;
	}
	outer->ttl = inner->ttl;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = 0;
	outer->daddr = real_addr;
	return 0;
}

/* Fill in the checksum of a 20-byte IPv4 header. */
static __always_inline void ipv4_set_checksum(struct iphdr *iph)
{
	__u32 sum = 0;
	__u16 *word = (__u16 *)iph;
	int i;

	iph->check = 0;
#pragma unroll
	for (i = 0; i < 10; i++)
		sum += word[i];
	iph->check = csum_fold(sum);
}

#endif /* LB_ENCAP_IPIP_H */
