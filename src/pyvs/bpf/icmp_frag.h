/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the answer to a packet with DF set that would be too
 * big once encapsulated: an ICMP "fragmentation needed" error to the client,
 * from the VIP, quoting the packet's IP header and 8 more bytes, with the
 * next-hop MTU less the 20 bytes of the outer header, as IPVS sends from
 * ip_vs_tunnel_xmit(). It goes back out the interface it came in on.
 */
#ifndef LB_ICMP_FRAG_H
#define LB_ICMP_FRAG_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include "csum.h"
#include "encap_ipip.h"
#include "parsing.h"
#include "reshape.h"

#define LB_ICMP_TTL 64
#define LB_ICMP_DEST_UNREACH 3
#define LB_ICMP_FRAG_NEEDED 4

/*
 * An ICMP "destination unreachable" header (RFC 792, RFC 1191's next-hop MTU).
 * Not <linux/icmp.h>: that header includes <linux/if.h> and so glibc's
 * <sys/socket.h>, which has no place in a BPF compilation.
 */
struct lb_icmp_unreach {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 unused;
	__be16 mtu;
};
#define LB_IPTOS_TOS_MASK 0x1e
#define LB_IPTOS_PREC_INTERNETCONTROL 0xc0

/* An ICMP error and its IP header fit in this many bytes (RFC 1812 4.3.2.3;
 * the kernel's icmp_send() quotes as much of the packet as fits). */
#define LB_ICMP_ERROR_MAX 576

/**
 * reply_frag_needed() - turn the frame into the ICMP error, in place, as
 * IPVS's icmp_send() makes it: it quotes the packet as it would have been
 * forwarded (TTL one less), as much of it as fits in 576 bytes.
 * @mtu: the route's MTU toward the real server.
 * Returns: 0, or -1 when the frame could not be reshaped.
 */
static __always_inline int reply_frag_needed(struct xdp_md *ctx, const struct lb_frame *frame,
					     __u16 mtu)
{
	__u32 l2_len = frame->l3_off;
	__u32 room = LB_ICMP_ERROR_MAX - sizeof(struct iphdr) - sizeof(struct lb_icmp_unreach);
	__u32 quote_len = frame->l3_len < room ? frame->l3_len : room;
	__u32 icmp_len = sizeof(struct lb_icmp_unreach) + quote_len;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *iph, *quoted;
	struct lb_icmp_unreach *icmp;
	__u8 mac[ETH_ALEN];
	long sum;

	if (move_l2_header(ctx, l2_len, -(int)(sizeof(*iph) + sizeof(*icmp))))
		return -1;
	if (trim_frame(ctx, l2_len + sizeof(*iph) + icmp_len))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	iph = ipv4_at(data, data_end, l2_len);
	if (!iph || (void *)(eth + 1) > data_end)
		return -1;
	icmp = (void *)(iph + 1);
	quoted = (void *)(icmp + 1);
	if ((void *)(quoted + 1) > data_end)
		return -1;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);

	ipv4_decrease_ttl(quoted);
	iph->version = 4;
	iph->ihl = sizeof(*iph) / 4;
	iph->tos = (quoted->tos & LB_IPTOS_TOS_MASK) | LB_IPTOS_PREC_INTERNETCONTROL;
	iph->tot_len = bpf_htons(sizeof(*iph) + icmp_len);
	iph->id = 0;
	iph->frag_off = 0;
	iph->ttl = LB_ICMP_TTL;
	iph->protocol = IPPROTO_ICMP;
	iph->saddr = quoted->daddr;
	iph->daddr = quoted->saddr;
	ipv4_set_checksum(iph);

	icmp->type = LB_ICMP_DEST_UNREACH;
	icmp->code = LB_ICMP_FRAG_NEEDED;
	icmp->checksum = 0;
	icmp->unused = 0;
	icmp->mtu = bpf_htons(mtu - sizeof(struct iphdr));
	sum = csum_packet(ctx, l2_len + sizeof(*iph), icmp_len);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	icmp = data + bounded(l2_len, 0x1f) + sizeof(*iph);
	if (sum < 0 || l2_len > 18 || (void *)(icmp + 1) > data_end)
		return -1;
	icmp->checksum = csum_fold((__u32)sum);
	return 0;
}

#endif /* LB_ICMP_FRAG_H */
