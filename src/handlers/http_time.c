/*
 * http_time.c - the HTTP date formats: parsing the three forms a client may
 * send (IMF-fixdate, RFC 850, asctime) and formatting IMF-fixdate and the
 * access log's CLF timestamp, on a proleptic Gregorian calendar of its own
 * (no gmtime, no locale). Pure, like the parser beside it.
 *
 * Entry points: http_time_parse, http_time_format, http_time_format_clf.
 */
#include "handlers/http_parse.h"

#include <string.h>

static const char wkday_names[7][4] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
static const char month_names[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const weekday_long[7] = { "Monday", "Tuesday", "Wednesday", "Thursday",
					     "Friday", "Saturday", "Sunday" };

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
	z += 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long long)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(long long y, unsigned m)
{
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return mdays[m - 1];
}

/* A cursor over the date text. */
struct scan {
	const char *p;
	size_t len, i;
};

static int scan_lit(struct scan *s, const char *lit)
{
	size_t n = strlen(lit);
	if (s->len - s->i < n || memcmp(s->p + s->i, lit, n) != 0)
		return -1;
	s->i += n;
	return 0;
}

/* Exactly `digits` decimal digits. */
static int scan_num(struct scan *s, int digits, int *out)
{
	int v = 0;
	if (s->len - s->i < (size_t)digits)
		return -1;
	for (int k = 0; k < digits; k++) {
		char c = s->p[s->i + k];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	s->i += digits;
	*out = v;
	return 0;
}

static int scan_month(struct scan *s, int *out)
{
	if (s->len - s->i < 3)
		return -1;
	for (int m = 0; m < 12; m++)
		if (memcmp(s->p + s->i, month_names[m], 3) == 0) {
			s->i += 3;
			*out = m + 1;
			return 0;
		}
	return -1;
}

static int scan_time(struct scan *s, int *h, int *mi, int *sec)
{
	if (scan_num(s, 2, h) < 0 || scan_lit(s, ":") < 0 || scan_num(s, 2, mi) < 0 ||
	    scan_lit(s, ":") < 0 || scan_num(s, 2, sec) < 0)
		return -1;
	return 0;
}

int http_time_parse(const char *text, size_t len, time_t *out)
{
	struct scan s = { text, len, 0 };
	int year = 0, month = 0, day = 0, hour = 0, min = 0, sec = 0;
	size_t comma;

	for (comma = 0; comma < len && comma < 10 && text[comma] != ','; comma++)
		;
	if (comma == len || text[comma] != ',')
		comma = 0;	/* no comma: the asctime form */
	if (comma == 3) {
		/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		s.i = 4;
		if (scan_lit(&s, " ") < 0 || scan_num(&s, 2, &day) < 0 || scan_lit(&s, " ") < 0 ||
		    scan_month(&s, &month) < 0 || scan_lit(&s, " ") < 0 ||
		    scan_num(&s, 4, &year) < 0 || scan_lit(&s, " ") < 0 ||
		    scan_time(&s, &hour, &min, &sec) < 0 || scan_lit(&s, " GMT") < 0)
			return -1;
	} else if (comma > 3) {
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
		int known = 0;
		for (int k = 0; k < 7; k++)
			if (strlen(weekday_long[k]) == comma &&
			    memcmp(text, weekday_long[k], comma) == 0)
				known = 1;
		s.i = comma + 1;
		if (!known || scan_lit(&s, " ") < 0 || scan_num(&s, 2, &day) < 0 ||
		    scan_lit(&s, "-") < 0 || scan_month(&s, &month) < 0 ||
		    scan_lit(&s, "-") < 0 || scan_num(&s, 2, &year) < 0 || scan_lit(&s, " ") < 0 ||
		    scan_time(&s, &hour, &min, &sec) < 0 || scan_lit(&s, " GMT") < 0)
			return -1;
		year += year < 70 ? 2000 : 1900;
	} else {
		/* asctime: Sun Nov  6 08:49:37 1994 */
		s.i = 3;
		if (len < 3 || scan_lit(&s, " ") < 0 || scan_month(&s, &month) < 0 ||
		    scan_lit(&s, " ") < 0)
			return -1;
		if (s.i < len && s.p[s.i] == ' ') {
			s.i++;
			if (scan_num(&s, 1, &day) < 0)
				return -1;
		} else if (scan_num(&s, 2, &day) < 0) {
			return -1;
		}
		if (scan_lit(&s, " ") < 0 || scan_time(&s, &hour, &min, &sec) < 0 ||
		    scan_lit(&s, " ") < 0 || scan_num(&s, 4, &year) < 0)
			return -1;
	}
	if (s.i != len)
		return -1;
	if (day < 1 || day > days_in_month(year, (unsigned)month) || hour > 23 || min > 59 ||
	    sec > 60)
		return -1;
	if (sec == 60)
		sec = 59;
	long long days = days_from_civil(year, (unsigned)month, (unsigned)day);
	*out = (time_t)(days * 86400 + hour * 3600 + min * 60 + sec);
	return 0;
}

static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* Split t into calendar fields; years outside 0..9999 are clamped. */
static void split_time(time_t t, long long *days, long long *y, unsigned *mo, unsigned *d,
		       unsigned *h, unsigned *mi, unsigned *s)
{
	long long tt = (long long)t;
	long long secs = tt % 86400;
	*days = tt / 86400;
	if (secs < 0) {
		secs += 86400;
		(*days)--;
	}
	civil_from_days(*days, y, mo, d);
	if (*y < 0 || *y > 9999) {
		*y = *y < 0 ? 0 : 9999;
		*days = 0;
	}
	*h = (unsigned)(secs / 3600);
	*mi = (unsigned)(secs / 60 % 60);
	*s = (unsigned)(secs % 60);
}

/* Write "DD<sep>Mon<sep>YYYY<before_time>HH:MM:SS" (20 bytes, not
 * terminated) at out; returns the days since the epoch, for the weekday. */
static long long put_day_and_time(char *out, time_t t, char sep, char before_time)
{
	long long days, y;
	unsigned mo, d, h, mi, s;
	split_time(t, &days, &y, &mo, &d, &h, &mi, &s);
	put2(out, d);
	out[2] = sep;
	memcpy(out + 3, month_names[mo - 1], 3);
	out[6] = sep;
	put2(out + 7, (unsigned)(y / 100));
	put2(out + 9, (unsigned)(y % 100));
	out[11] = before_time;
	put2(out + 12, h);
	out[14] = ':';
	put2(out + 15, mi);
	out[17] = ':';
	put2(out + 18, s);
	return days;
}

void http_time_format(time_t t, char out[HTTP_DATE_LEN + 1])
{
	long long wd = put_day_and_time(out + 5, t, ' ', ' ') % 7;
	if (wd < 0)
		wd += 7;
	memcpy(out, wkday_names[wd], 3);
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): out is terminated at its end */
	memcpy(out + 3, ", ", 2);
	memcpy(out + 25, " GMT", 5);
}

void http_time_format_clf(time_t t, char out[HTTP_CLF_DATE_LEN + 1])
{
	out[0] = '[';
	put_day_and_time(out + 1, t, '/', ':');
	memcpy(out + 21, " +0000]", 8);
}
