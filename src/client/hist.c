/*
 * hist.c - a fixed-size log-linear histogram for latencies, in the manner
 * of HdrHistogram: recording is a few instructions and never allocates;
 * histograms of several threads merge by adding their buckets.
 *
 * Bucket layout (S = HIST_SUB_BITS): values below 2^(S+1) have a bucket
 * each; a value v with highest set bit m > S lies in the octave
 * [2^m, 2^(m+1)), cut into 2^S equal buckets of width 2^(m-S). The index is
 * (m-S) * 2^S + (v >> (m-S)), which runs on contiguously from the exact
 * range. Percentiles report a bucket's midpoint, clamped to the recorded
 * minimum and maximum, so they are within 1/2^(S+1) of the true value.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "client/client.h"

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->h_min = UINT64_MAX;
}

size_t hist_bucket_of(uint64_t value)
{
	unsigned msb, shift;

	if (value < 2 * HIST_SUB_COUNT)
		return (size_t)value;
	msb = 63u - (unsigned)__builtin_clzll(value);
	if (msb >= HIST_MAX_BITS)
		return HIST_BUCKETS - 1;
	shift = msb - HIST_SUB_BITS;
	return ((size_t)shift << HIST_SUB_BITS) + (size_t)(value >> shift);
}

/* The smallest value that falls into bucket INDEX. */
uint64_t hist_bucket_low(size_t index)
{
	size_t shift;

	if (index < 2 * HIST_SUB_COUNT)
		return index;
	shift = (index >> HIST_SUB_BITS) - 1;
	return (uint64_t)(index - (shift << HIST_SUB_BITS)) << shift;
}

/* The largest value that falls into bucket INDEX. */
uint64_t hist_bucket_high(size_t index)
{
	size_t shift;

	if (index < 2 * HIST_SUB_COUNT)
		return index;
	shift = (index >> HIST_SUB_BITS) - 1;
	return hist_bucket_low(index) + ((uint64_t)1 << shift) - 1;
}

void hist_record(struct hist *h, uint64_t value)
{
	h->h_buckets[hist_bucket_of(value)]++;
	h->h_count++;
	h->h_sum += (double)value;
	if (value < h->h_min)
		h->h_min = value;
	if (value > h->h_max)
		h->h_max = value;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	size_t i;

	if (from->h_count == 0)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		into->h_buckets[i] += from->h_buckets[i];
	into->h_count += from->h_count;
	into->h_sum += from->h_sum;
	if (from->h_min < into->h_min)
		into->h_min = from->h_min;
	if (from->h_max > into->h_max)
		into->h_max = from->h_max;
}

/*
 * The value at percentile PCT (0-100): the smallest recorded value such
 * that at least PCT% of the values are at or below it, to the bucket's
 * precision. 0 for an empty histogram.
 */
uint64_t hist_percentile(const struct hist *h, double pct)
{
	uint64_t rank, seen = 0, value;
	double exact;
	size_t i;

	if (h->h_count == 0)
		return 0;
	if (pct >= 100.0)
		return h->h_max;
	if (pct < 0.0)
		pct = 0.0;
	exact = pct / 100.0 * (double)h->h_count;
	rank = (uint64_t)exact;
	if ((double)rank < exact)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > h->h_count)
		rank = h->h_count;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->h_buckets[i];
		if (seen >= rank)
			break;
	}
	if (i == HIST_BUCKETS)
		return h->h_max;
	value = hist_bucket_low(i) + (hist_bucket_high(i) - hist_bucket_low(i)) / 2;
	if (value < h->h_min)
		value = h->h_min;
	if (value > h->h_max)
		value = h->h_max;
	return value;
}

double hist_mean(const struct hist *h)
{
	return h->h_count ? h->h_sum / (double)h->h_count : 0.0;
}
