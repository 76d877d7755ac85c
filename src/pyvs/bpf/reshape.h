/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains the two ways the programs reshape a frame: cutting
 * Ethernet padding behind the IP packet (as the kernel's ip_rcv() does) and
 * moving the L2 header when an IPv4 header is pushed in front of the packet
 * or pulled off it. Return convention: 0 on success, -1 otherwise; every
 * packet pointer is invalid after a call.
 */
#ifndef LB_RESHAPE_H
#define LB_RESHAPE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

/* Cut everything behind the first @keep bytes of the frame. */
static __always_inline int trim_frame(struct xdp_md *ctx, __u32 keep)
{
	long excess = (long)(ctx->data_end - ctx->data) - (long)keep;

	if (excess <= 0)
		return 0;
	return bpf_xdp_adjust_tail(ctx, (int)-excess) ? -1 : 0;
}

/*
 * Grow (@shift < 0) or shrink (@shift > 0) the frame at its front and put the
 * 14- or 18-byte L2 header back at the new front.
 */
static __always_inline int move_l2_header(struct xdp_md *ctx, __u32 l2_len, int shift)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 l2[18];

	if (data + 18 > data_end)
		return -1;
	__builtin_memcpy(l2, data, 18);
	if (bpf_xdp_adjust_head(ctx, shift))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + 18 > data_end)
		return -1;
	if (l2_len == sizeof(struct ethhdr))
		__builtin_memcpy(data, l2, sizeof(struct ethhdr));
	else
		__builtin_memcpy(data, l2, 18);
	return 0;
}

#endif /* LB_RESHAPE_H */
