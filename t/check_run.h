/*
 * check_run.h - the one main() tail every Check suite shares: run the
 * suite, report, and turn the failure count into the exit status.
 */
#ifndef PREFORK_CHECK_RUN_H
#define PREFORK_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* Run s (in forked children unless fork_mode is CK_NOFORK); an exit status. */
static inline int check_run(Suite *s, enum fork_status fork_mode)
{
	SRunner *sr = srunner_create(s);
	if (fork_mode == CK_NOFORK)
		srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
