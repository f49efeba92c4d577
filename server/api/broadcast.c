/* broadcast.c: see broadcast.h. */
#include "broadcast.h"

#include "err.h"

void broadcast_install(broadcast *b, const broadcast_ops *ops, void *impl) {
  b->ops = ops;
  b->impl = impl;
}

void broadcast_clear(broadcast *b, const void *impl) {
  if (b->impl != impl) return;
  b->ops = NULL;
  b->impl = NULL;
}

ssize_t broadcast_publish(const broadcast *b, const char *event, int64_t outlet_id, const char *json,
                          size_t len) {
  if (b == NULL || b->ops == NULL || b->ops->publish == NULL) return KDS_ECLOSED;
  return b->ops->publish(b->impl, event, outlet_id, json, len);
}
