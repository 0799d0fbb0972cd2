/*
 * worker_api.c - what a handler may ask of the calling worker: is it told
 * to stop (and the descriptor that wakes a poll() when it is), its
 * service's name, its generation. Below the handlers and the HTTP layer,
 * which call it; it calls nothing above the signals.
 * Entry points: pf_worker_stopping, pf_worker_stop_fd, pf_worker_service,
 * pf_worker_generation.
 */
#include "internal.h"

PF_API int pf_worker_stopping(const struct pf_worker *w)
{
	(void)w;
	return signals_worker_stop != 0;
}

PF_API int pf_worker_stop_fd(const struct pf_worker *w)
{
	(void)w;
	return signals_worker_stop_fd();
}

PF_API const char *pf_worker_service(const struct pf_worker *w)
{
	return w->svc->name;
}

PF_API unsigned pf_worker_generation(const struct pf_worker *w)
{
	return w->generation;
}
