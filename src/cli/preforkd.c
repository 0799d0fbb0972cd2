/*
 * preforkd.c - the stock server: the built-in handlers (echo, http,
 * status) and loadable modules, around pf_main().
 */
#include "prefork.h"

int main(int argc, char **argv)
{
	return pf_main(argc, argv, NULL);
}
