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
 * csum_range() - one's complement checksum over @len bytes at @off, for
 * headers of at most 76 bytes (an ICMP error quoting a 60-byte IP header)
 * starting at most 78 bytes into the frame.
 * Returns: the folded checksum, 0 when the range already holds a correct
 * checksum field; 0xffff when the range is not within the frame.
 */
static __always_inline __u16 csum_range(void *data, void *data_end, __u32 off, __u32 len)
{
	__u32 sum = 0;
	__u16 *word;
	__u32 i;

	if (off > 78)
		return 0xffff;
#pragma unroll
	for (i = 0; i < 38; i++) {
		if (i * 2 >= len)
			break;
		word = data + off + i * 2;
		if ((void *)(word + 1) > data_end)
			return 0xffff;
		sum += *word;
	}
	return csum_fold(sum);
}

#endif /* LB_CSUM_H */
