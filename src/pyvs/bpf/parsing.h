/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the header parsers shared by the director and the
 * real-server decapsulation program. Each parser checks every byte it reads
 * against data_end. Return convention: 0 when the header is whole and
 * well-formed, a negative value otherwise; outputs are written only on 0.
 */
#ifndef LB_PARSING_H
#define LB_PARSING_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "bounds.h"
#include "csum.h"

#define IP_MF 0x2000
#define IP_DF 0x4000
#define IP_OFFSET 0x1fff

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* Where the layers of one frame start, as byte offsets from data. */
struct lb_frame {
	__u32 l3_off;		/* 14, or 18 with one 802.1Q/802.1ad tag */
	__u32 l4_off;		/* l3_off + IPv4 header length */
	__u32 l3_len;		/* IPv4 total length */
};

/**
 * parse_eth() - find the IPv4 header behind Ethernet and at most one VLAN tag.
 * Returns: 0 for IPv4 (frame->l3_off set), -1 for anything else.
 */
static __always_inline int parse_eth(void *data, void *data_end, struct lb_frame *frame)
{
	struct ethhdr *eth = data;
	__be16 proto;
	__u32 off = sizeof(*eth);

	if ((void *)(eth + 1) > data_end)
		return -1;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vlan = (void *)(eth + 1);

		if ((void *)(vlan + 1) > data_end)
			return -1;
		proto = vlan->encap_proto;
		off += sizeof(*vlan);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return -1;
	frame->l3_off = off;
	return 0;
}

/**
 * ipv4_at() - the fixed 20-byte part of the IPv4 header at frame->l3_off.
 * Returns: the header, or NULL when fewer than 20 bytes are there.
 */
static __always_inline struct iphdr *ipv4_at(void *data, void *data_end, __u32 off)
{
	struct iphdr *iph;

	if (off > 18)
		return NULL;
	iph = data + off;
	if ((void *)(iph + 1) > data_end)
		return NULL;
	return iph;
}

/**
 * check_ipv4() - validate version, header length, total length and checksum
 * of the IPv4 header at @off, options included.
 * Returns: 0 when valid (frame->l4_off and frame->l3_len set); -1 for a bad
 * header or length; -2 for a bad checksum.
 */
static __always_inline int check_ipv4(void *data, void *data_end, __u32 off,
				      struct lb_frame *frame)
{
	struct iphdr *iph;
	__u32 hlen, tot_len;

	if (off > 78)
		return -1;
	iph = data + off;
	if ((void *)(iph + 1) > data_end)
		return -1;
	hlen = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || hlen < sizeof(*iph))
		return -1;
	if (tot_len < hlen || data + off + tot_len > data_end)
		return -1;
	if (csum_range(data, data_end, off, hlen) != 0)
		return -2;
	frame->l4_off = off + hlen;
	frame->l3_len = tot_len;
	return 0;
}

static __always_inline int ipv4_is_fragment(const struct iphdr *iph)
{
	return (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
}

/**
 * l4_check() - whether a whole TCP or UDP header lies within the IP packet
 * described by @frame, with consistent length fields (TCP data offset, UDP
 * length; a first fragment's UDP length is the whole datagram's, longer).
 * Returns: 0 when it does; -1 when it is truncated or inconsistent, or when
 * @proto is neither TCP nor UDP.
 */
static __always_inline int l4_check(void *data, void *data_end, __u8 proto,
				    const struct lb_frame *frame, int first_fragment)
{
	__u32 l4_len = frame->l3_len - (frame->l4_off - frame->l3_off);

	if (frame->l4_off > 78)
		return -1;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = data + bounded(frame->l4_off, 0x7f);

		if ((void *)(tcp + 1) > data_end || l4_len < sizeof(*tcp))
			return -1;
		if (tcp->doff < 5 || tcp->doff * 4 > l4_len)
			return -1;
		return 0;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = data + bounded(frame->l4_off, 0x7f);
		__u32 ulen;

		if ((void *)(udp + 1) > data_end || l4_len < sizeof(*udp))
			return -1;
		ulen = bpf_ntohs(udp->len);
		if (ulen < sizeof(*udp) || (ulen > l4_len && !first_fragment))
			return -1;
		return 0;
	}
	return -1;
}

#endif /* LB_PARSING_H */
