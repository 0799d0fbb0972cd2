/*
 * port.h - the one TCP port parser, shared by the server (core/addr.c)
 * and prefork-client (client/target.c), which links nothing else of the
 * library.
 */
#ifndef PF_CORE_PORT_H
#define PF_CORE_PORT_H

/* Decimal digits only, 0 to 65535: 0 and *port set, else -1 (empty, sign, junk, too big). */
int port_parse(const char *s, int *port);

#endif
