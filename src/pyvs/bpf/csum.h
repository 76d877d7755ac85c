/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the Internet checksum helpers (RFC 1071), written for
 * the verifier: bounded loops, every read checked. Sums are of 16-bit words
 * as they lie in memory, which one's complement arithmetic allows.
 */
#ifndef LB_CSUM_H
#define LB_CSUM_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bounds.h"

/* csum_packet() sums whole chunks of this many bytes with bpf_csum_diff()... */
#define LB_CSUM_CHUNK 256
/* ...and at most this many bytes: more than a veth's largest MTU with XDP
 * (a page less headroom) and than an ICMP error quotes (576 bytes). */
#define LB_CSUM_MAX_BYTES 4096
/* ...starting at most this far into the frame (L2, a 60-byte IPv4 header and
 * its ICMP header in front of a quoted packet). */
#define LB_CSUM_MAX_OFF 128

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

/* Fold a 64-bit sum of 16- and 32-bit words into 32 bits, end-around carry kept. */
static __always_inline __u32 csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return (__u32)sum;
}

/* Add the sum of the @size bytes (a multiple of 4, at most 512) at @off to @sum. */
static __always_inline int csum_add_chunk(void *data, void *data_end, __u32 off, __u32 size, __u64 *sum)
{
	__u8 *p = data + bounded(off, 0x1fff);
	long part;

	if ((void *)(p + size) > data_end)
		return -1;
	part = bpf_csum_diff(NULL, 0, (__be32 *)p, size, 0);
	if (part < 0)
		return -1;
	*sum += (__u32)part;
	return 0;
}

/**
 * csum_packet() - one's complement sum of @len bytes of the frame at @off
 * (an odd last byte padded with zero, as RFC 1071 says).
 * A global function: verified once, whatever its callers.
 * Returns: the sum, unfolded and not inverted, in 0..2^32-1; -1 when the
 * range is not within the frame or longer than LB_CSUM_MAX_BYTES.
 */
__noinline long csum_packet(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 end, i, size;
	__u64 sum = 0;
	__u8 *p;

	if (off > LB_CSUM_MAX_OFF || len > LB_CSUM_MAX_BYTES)
		return -1;
	end = off + len;
	for (i = 0; i < LB_CSUM_MAX_BYTES / LB_CSUM_CHUNK; i++) {
		if (off + LB_CSUM_CHUNK > end)
			break;
		if (csum_add_chunk(data, data_end, off, LB_CSUM_CHUNK, &sum))
			return -1;
		off += LB_CSUM_CHUNK;
	}
	/* fewer than LB_CSUM_CHUNK bytes left: a chunk of each power of two in their count */
#pragma unroll
	for (size = LB_CSUM_CHUNK / 2; size >= 4; size /= 2) {
		if (!((end - off) & size))
			continue;
		if (csum_add_chunk(data, data_end, off, size, &sum))
			return -1;
		off += size;
	}
	p = data + bounded(off, 0x1fff);
	if ((end - off) & 2) {
		if ((void *)(p + 2) > data_end)
			return -1;
		sum += *(__u16 *)p;
		p += 2;
	}
	if ((end - off) & 1) {
		if ((void *)(p + 1) > data_end)
			return -1;
		sum += *p;	/* the byte, then a zero byte, as a word in memory order */
	}
	return csum_fold64(sum);
}

#endif /* LB_CSUM_H */
