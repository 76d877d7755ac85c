// SPDX-License-Identifier: GPL-2.0
/*
 * The Maglev populate loop (Eisenbud et al., NSDI 2016, section 3.4, with
 * weights as IPVS's mh scheduler gives them: `turns` slots in a row per
 * round) as a BPF_PROG_TYPE_SYSCALL program, run by BPF_PROG_TEST_RUN.
 * pyvs/sched/maglev.py is the reference; tests/bpf/test_maglev_build.py
 * checks that both give the same table. The driver is
 * pyvs/dataplane/maglev_kernel.py.
 *
 * User space writes each backend's offset, skip and turns into
 * maglev_backends (mmapped) and runs the program with struct maglev_args as
 * its context; the table comes out in maglev_table (mmapped too).
 *
 * A table takes about M ln M probes (some 9 million for M = 655373), each a
 * test of one slot of the current backend's permutation. They run in
 * bpf_loop, up to PROBES_PER_ITER in one iteration (one claim): with a
 * callback per probe, the call and return of each cost more than the probe
 * (returns are dear under the SRSO "safe RET" mitigation of AMD CPUs; a
 * first version with one probe per iteration, and the table itself marking
 * the taken slots, was 2.5 times slower at M = 655373). bpf_loop allows at most
 * 1 << 23 iterations per call, so the loop state lives in a global and user
 * space runs the program again, with start = 0, until it reports done;
 * user space may also choose a smaller budget per run.
 *
 * Which slots are taken is kept in a bitmap (maglev_taken) rather than by
 * marking the table: 80 KiB for M = 655373 stays in the L2 cache, where the
 * table's 5 MiB (array map elements are 8 bytes apart) would not; and as
 * every slot is written exactly once, the table needs no clearing.
 */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>

#include "lb_shared.h"

#define MAGLEV_LOOP_MAX (1u << 23) /* bpf_loop's limit on iterations per call */
#define PROBES_PER_ITER 64

/* struct maglev_backend, struct maglev_args: lb_shared.h (mirrored in pyvs.packet.abi). */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32); /* backend index; elements are 8 bytes apart in the mmapped area */
	__uint(max_entries, 1); /* the loader sets the real size */
} maglev_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64); /* bit s % 64 of word s / 64: slot s is taken */
	__uint(max_entries, 1); /* the loader sets it to ceil(table size / 64) */
} maglev_taken SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct maglev_backend);
	__uint(max_entries, 1); /* the loader sets the real size */
} maglev_backends SEC(".maps");

/* The build under way, kept between runs of the program. */
struct maglev_state {
	__u32 m;
	__u32 n;
	__u32 cur;     /* backend whose turn it is */
	__u32 claimed; /* slots it has claimed in this turn */
	__u32 filled;
	__u32 done;
	__u32 live;    /* backends with turns > 0 */
	int error;     /* negative errno once something is wrong; sticks until the next start */
	__u64 probes;
};

struct maglev_state maglev_state;

static long clear_word(__u64 index, void *unused)
{
	__u32 key = index;
	__u64 *word = bpf_map_lookup_elem(&maglev_taken, &key);

	if (!word) {
		maglev_state.error = -E2BIG; /* m exceeds the map */
		return 1;
	}
	*word = 0;
	return 0;
}

static long reset_backend(__u64 index, void *unused)
{
	struct maglev_state *s = &maglev_state;
	__u32 key = index;
	struct maglev_backend *b = bpf_map_lookup_elem(&maglev_backends, &key);

	if (!b) {
		s->error = -E2BIG; /* n exceeds the map */
		return 1;
	}
	/* An offset or skip out of range would probe outside the table or never move. */
	if (b->offset >= s->m || b->skip == 0 || b->skip >= s->m) {
		s->error = -EINVAL;
		return 1;
	}
	b->next = b->offset;
	if (b->turns)
		s->live++;
	return 0;
}

/*
 * One bpf_loop iteration: the current backend tests up to PROBES_PER_ITER
 * slots of its permutation and claims the first empty one. If all are
 * taken, its turn goes on in the next iteration.
 */
static long claim(__u64 index, void *unused)
{
	struct maglev_state *s = &maglev_state;
	__u32 cur = s->cur;
	struct maglev_backend *b = bpf_map_lookup_elem(&maglev_backends, &cur);
	__u32 m = s->m, pos, skip, key, *slot;
	__u64 *word;
	int i;

	if (!b)
		goto fail;
	if (!b->turns)
		goto next_backend; /* weight 0: no turn at all */
	pos = b->next;
	skip = b->skip;
	for (i = 1; i <= PROBES_PER_ITER; i++) {
		key = pos / 64;
		word = bpf_map_lookup_elem(&maglev_taken, &key);
		if (!word)
			goto fail;
		if (!(*word & (1ULL << (pos % 64))))
			goto found;
		/* (pos + skip) mod m without a division: both are below m */
		pos += skip;
		if (pos >= m)
			pos -= m;
	}
	b->next = pos;
	s->probes += PROBES_PER_ITER;
	return 0;
found:
	s->probes += i;
	slot = bpf_map_lookup_elem(&maglev_table, &pos);
	if (!slot)
		goto fail;
	*slot = cur;
	*word |= 1ULL << (pos % 64);
	b->next = pos; /* taken now: the next probe steps past it */
	if (++s->filled == m) {
		s->done = 1;
		return 1;
	}
	if (++s->claimed < b->turns)
		return 0;
next_backend:
	/* Turn over: the next backend, in list order, round after round. */
	s->claimed = 0;
	s->cur = cur + 1 < s->n ? cur + 1 : 0;
	return 0;
fail:
	s->error = -E2BIG; /* a map smaller than m or n */
	return 1;
}

SEC("syscall")
int maglev_build(struct maglev_args *args)
{
	struct maglev_state *s = &maglev_state;
	__u32 budget = args->budget;
	long ran;

	if (args->start) {
		if (args->m < 2 || args->m > MAGLEV_LOOP_MAX || args->n == 0 || args->n > MAGLEV_LOOP_MAX)
			return -EINVAL;
		__builtin_memset(s, 0, sizeof(*s));
		s->m = args->m;
		s->n = args->n;
		bpf_loop((s->m + 63) / 64, clear_word, NULL, 0);
		if (!s->error)
			bpf_loop(s->n, reset_backend, NULL, 0);
		if (!s->error && !s->live)
			s->error = -EINVAL; /* nobody would ever claim a slot */
	}
	if (!s->m)
		return -EINVAL; /* no build was started */
	if (s->error)
		return s->error;
	if (budget == 0 || budget > MAGLEV_LOOP_MAX)
		budget = MAGLEV_LOOP_MAX;
	if (!s->done) {
		ran = bpf_loop(budget, claim, NULL, 0);
		if (ran < 0)
			return ran;
		if (s->error)
			return s->error;
	}
	args->done = s->done;
	args->filled = s->filled;
	args->probes = s->probes;
	return 0;
}

char _license[] SEC("license") = "GPL";
