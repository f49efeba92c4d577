/* broadcast.h: the seam between the order service and whatever tells the screens. The
 * order service publishes committed changes to one `broadcast`; it does not know who
 * delivers them. Today the implementation is the local Socket.IO server (realtime.c
 * installs itself at start-up); a cluster adapter (SPEC 9: Redis) installs a wrapper that
 * delivers locally and forwards to the other nodes, without touching ordersvc.c.
 *
 * Contract for an implementation's publish: deliver `event` with one JSON argument
 * (`json`, `len` bytes, the implementation copies what it keeps) to the room of
 * `outlet_id` and to every all-outlets listener; return how many local sockets got it
 * (0: none), or a negative code from err.h. It must never block the loop, and a failure
 * never undoes what was committed: the order service logs nothing more and goes on. */
#ifndef KDS_BROADCAST_H
#define KDS_BROADCAST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct broadcast_ops {
  ssize_t (*publish)(void *impl, const char *event, int64_t outlet_id, const char *json, size_t len);
} broadcast_ops;

/* Owned by struct server (by value); `impl` is borrowed from whoever installed it and must
 * outlive the installation (broadcast_clear before it goes). */
typedef struct broadcast {
  const broadcast_ops *ops; /* NULL: nothing installed (start-up, shutdown) */
  void *impl;
} broadcast;

void broadcast_install(broadcast *b, const broadcast_ops *ops, void *impl);

/* Uninstalls only if `impl` is the one installed (a wrapper may have replaced it). */
void broadcast_clear(broadcast *b, const void *impl);

/* Returns the implementation's result, or KDS_ECLOSED when nothing is installed. */
ssize_t broadcast_publish(const broadcast *b, const char *event, int64_t outlet_id, const char *json,
                          size_t len);

#endif
