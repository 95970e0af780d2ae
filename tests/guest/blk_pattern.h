/*
 * The data the block tests write: one 64-bit word per 8 bytes of disk,
 * a function of a seed and the word's position, so that any sector can be
 * checked on its own, by the guest or by a host test reading the image.
 * Plain C, shared with tests/integration.
 */
#ifndef TEST_GUEST_BLK_PATTERN_H
#define TEST_GUEST_BLK_PATTERN_H

#include <stdint.h>

static inline uint64_t blk_pattern_word(uint64_t seed, uint64_t word_index)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL ^ word_index;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* vbd=seq: the first word of each sector it writes ("TGSEQ"). */
#define BLK_SEQ_MAGIC 0x5145534754ULL

#endif
