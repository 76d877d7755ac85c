/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the Internet checksum helpers for IPv4 headers
 * (RFC 1071), written for the verifier: bounded loops, every read checked.
 */
#ifndef LB_CSUM_H
#define LB_CSUM_H

#include <linux/types.h>

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/**
 * csum_ipv4_header() - one's complement sum over @hlen bytes at @off.
 * Returns: 0 for a header whose checksum field is right (or for a header
 * being checked with its checksum field included); the folded sum otherwise,
 * which is the checksum to store when the field was zero.
 */
static __always_inline __u16 csum_ipv4_header(void *data, void *data_end, __u32 off,
					      __u32 hlen)
{
	__u32 sum = 0;
	__u16 *word;
	__u32 i;

	if (off > 78)	/* L2 (18) + an outer IPv4 header (60) at most */
		return 0xffff;
#pragma unroll
	for (i = 0; i < 30; i++) {	/* 60 bytes: the longest IPv4 header */
		if (i * 2 >= hlen)
			break;
		word = data + off + i * 2;
		if ((void *)(word + 1) > data_end)
			return 0xffff;
		sum += *word;
	}
	return csum_fold(sum);
}

#endif /* LB_CSUM_H */
