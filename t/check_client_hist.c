/*
 * check_client_hist.c - unit tests of prefork-client's latency histogram
 * (src/client/hist.c): bucket layout, percentiles of known distributions
 * within the promised precision, merging.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <stdlib.h>

#include "client/client.h"

#include "check_run.h"

static struct hist *new_hist(void)
{
	struct hist *h = malloc(sizeof(*h));

	ck_assert_ptr_nonnull(h);
	hist_init(h);
	return h;
}

/* |got - want| <= want / 256 + 1: half a bucket of 1/128, plus rounding. */
static void assert_close(uint64_t got, uint64_t want)
{
	uint64_t diff = got > want ? got - want : want - got;

	ck_assert_msg(diff <= want / 256 + 1, "got %llu, want %llu (+-%llu)",
		      (unsigned long long)got, (unsigned long long)want,
		      (unsigned long long)(want / 256 + 1));
}

START_TEST(buckets_are_contiguous_and_ordered)
{
	size_t i;

	for (i = 0; i + 1 < HIST_BUCKETS; i++) {
		ck_assert_uint_le(hist_bucket_low(i), hist_bucket_high(i));
		ck_assert_uint_eq(hist_bucket_high(i) + 1, hist_bucket_low(i + 1));
		ck_assert_uint_eq(hist_bucket_of(hist_bucket_low(i)), i);
		ck_assert_uint_eq(hist_bucket_of(hist_bucket_high(i)), i);
	}
}
END_TEST

START_TEST(bucket_width_is_within_precision)
{
	size_t i;

	for (i = 2 * HIST_SUB_COUNT; i < HIST_BUCKETS; i++) {
		uint64_t width = hist_bucket_high(i) - hist_bucket_low(i) + 1;

		ck_assert_uint_le(width * HIST_SUB_COUNT, hist_bucket_low(i));
	}
}
END_TEST

START_TEST(small_values_are_exact)
{
	uint64_t v;

	for (v = 0; v < 2 * HIST_SUB_COUNT; v++)
		ck_assert_uint_eq(hist_bucket_low(hist_bucket_of(v)), v);
}
END_TEST

START_TEST(huge_values_are_clamped)
{
	struct hist *h = new_hist();

	ck_assert_uint_eq(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
	hist_record(h, UINT64_MAX / 2);
	ck_assert_uint_eq(h->h_buckets[HIST_BUCKETS - 1], 1);
	ck_assert_uint_eq(hist_percentile(h, 100), UINT64_MAX / 2);
	free(h);
}
END_TEST

START_TEST(empty_histogram_reports_zero)
{
	struct hist *h = new_hist();

	ck_assert_uint_eq(hist_percentile(h, 50), 0);
	ck_assert_uint_eq(hist_percentile(h, 99.9), 0);
	ck_assert(hist_mean(h) == 0.0);
	free(h);
}
END_TEST

START_TEST(uniform_distribution_percentiles)
{
	struct hist *h = new_hist();
	uint64_t v;

	/* 1..100000 microseconds, in nanoseconds. */
	for (v = 1; v <= 100000; v++)
		hist_record(h, v * 1000);
	ck_assert_uint_eq(h->h_count, 100000);
	assert_close(hist_percentile(h, 50), 50000 * 1000);
	assert_close(hist_percentile(h, 90), 90000 * 1000);
	assert_close(hist_percentile(h, 99), 99000 * 1000);
	assert_close(hist_percentile(h, 99.9), 99900 * 1000);
	ck_assert_uint_eq(hist_percentile(h, 100), 100000 * 1000);
	ck_assert_uint_eq(h->h_min, 1000);
	ck_assert_uint_eq(h->h_max, 100000 * 1000);
	ck_assert(hist_mean(h) > 50000.4 * 1000 && hist_mean(h) < 50000.6 * 1000);
	free(h);
}
END_TEST

START_TEST(bimodal_distribution_percentiles)
{
	struct hist *h = new_hist();
	int i;

	/* 95% fast at 200 us, 5% slow at 30 ms. */
	for (i = 0; i < 9500; i++)
		hist_record(h, 200000);
	for (i = 0; i < 500; i++)
		hist_record(h, 30000000);
	assert_close(hist_percentile(h, 50), 200000);
	assert_close(hist_percentile(h, 90), 200000);
	assert_close(hist_percentile(h, 95), 200000);
	assert_close(hist_percentile(h, 95.01), 30000000);
	assert_close(hist_percentile(h, 99), 30000000);
	free(h);
}
END_TEST

START_TEST(single_value_is_exact)
{
	struct hist *h = new_hist();

	hist_record(h, 123456789);
	/* Clamped to the recorded minimum and maximum. */
	ck_assert_uint_eq(hist_percentile(h, 0), 123456789);
	ck_assert_uint_eq(hist_percentile(h, 50), 123456789);
	ck_assert_uint_eq(hist_percentile(h, 99.9), 123456789);
	free(h);
}
END_TEST

START_TEST(merge_equals_recording_into_one)
{
	struct hist *a = new_hist(), *b = new_hist(), *all = new_hist();
	uint64_t v;

	for (v = 1; v <= 20000; v++) {
		hist_record(v % 2 ? a : b, v * 777);
		hist_record(all, v * 777);
	}
	hist_merge(a, b);
	ck_assert_uint_eq(a->h_count, all->h_count);
	ck_assert_uint_eq(a->h_min, all->h_min);
	ck_assert_uint_eq(a->h_max, all->h_max);
	ck_assert_uint_eq(hist_percentile(a, 50), hist_percentile(all, 50));
	ck_assert_uint_eq(hist_percentile(a, 99), hist_percentile(all, 99));
	ck_assert_uint_eq(hist_percentile(a, 99.9), hist_percentile(all, 99.9));
	free(a);
	free(b);
	free(all);
}
END_TEST

START_TEST(merge_into_empty_keeps_min)
{
	struct hist *a = new_hist(), *b = new_hist();

	hist_record(b, 5000);
	hist_merge(a, b);
	ck_assert_uint_eq(a->h_min, 5000);
	ck_assert_uint_eq(hist_percentile(a, 50), 5000);
	free(a);
	free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client_hist");
	TCase *tc = tcase_create("hist");

	tcase_add_test(tc, buckets_are_contiguous_and_ordered);
	tcase_add_test(tc, bucket_width_is_within_precision);
	tcase_add_test(tc, small_values_are_exact);
	tcase_add_test(tc, huge_values_are_clamped);
	tcase_add_test(tc, empty_histogram_reports_zero);
	tcase_add_test(tc, uniform_distribution_percentiles);
	tcase_add_test(tc, bimodal_distribution_percentiles);
	tcase_add_test(tc, single_value_is_exact);
	tcase_add_test(tc, merge_equals_recording_into_one);
	tcase_add_test(tc, merge_into_empty_keeps_min);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
