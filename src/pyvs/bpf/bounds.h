/* SPDX-License-Identifier: GPL-2.0 */
/*
 * This file contains bounded(): an offset into the packet whose range every
 * verifier keeps.
 */
#ifndef LB_BOUNDS_H
#define LB_BOUNDS_H

#include <linux/types.h>

/*
 * @value & @mask, a bound every verifier keeps for the packet pointer it
 * offsets: the compiler may not drop the mask (even where it knows the value
 * already in range), and Linux 6.1's verifier can lose the range checked
 * before through 32-bit arithmetic.
 */
static __always_inline __u32 bounded(__u32 value, __u32 mask)
{
	asm volatile("" : "+r"(value));
	return value & mask;
}

#endif /* LB_BOUNDS_H */
