/* test_broadcast.c: the order service's publish seam (broadcast.h). */
#include "broadcast.h"

#include <string.h>

#include "err.h"
#include "test.h"

typedef struct fake {
  int calls;
  char event[32];
  int64_t outlet;
  size_t len;
  ssize_t result;
} fake;

static ssize_t fake_publish(void *impl, const char *event, int64_t outlet_id, const char *json, size_t len) {
  fake *f = impl;
  (void)json;
  f->calls++;
  snprintf(f->event, sizeof(f->event), "%s", event);
  f->outlet = outlet_id;
  f->len = len;
  return f->result;
}

static const broadcast_ops fake_ops = {fake_publish};

static void t_nothing_installed(void) {
  broadcast b = {NULL, NULL};
  ok(broadcast_publish(&b, "new-order", 1, "{}", 2) == KDS_ECLOSED, "nothing installed: KDS_ECLOSED");
  ok(broadcast_publish(NULL, "new-order", 1, "{}", 2) == KDS_ECLOSED, "NULL: KDS_ECLOSED");
}

static void t_publish_and_clear(void) {
  broadcast b = {NULL, NULL};
  fake f = {0}, other = {0};
  f.result = 3;
  broadcast_install(&b, &fake_ops, &f);
  ok(broadcast_publish(&b, "order-updated", 7, "{\"a\":1}", 7) == 3, "the implementation's count comes back");
  ok(f.calls == 1 && strcmp(f.event, "order-updated") == 0 && f.outlet == 7 && f.len == 7,
     "event, outlet and payload reach it");
  f.result = KDS_ENOMEM;
  ok(broadcast_publish(&b, "x", 1, "{}", 2) == KDS_ENOMEM, "its error comes back unchanged");
  broadcast_clear(&b, &other);
  ok(b.impl == &f && broadcast_publish(&b, "x", 1, "{}", 2) == KDS_ENOMEM,
     "clearing someone else's install keeps the current one (a wrapper replaced it)");
  broadcast_clear(&b, &f);
  ok(broadcast_publish(&b, "x", 1, "{}", 2) == KDS_ECLOSED && f.calls == 3, "cleared: closed, not called");
}

int main(void) {
  subtest("nothing installed", t_nothing_installed);
  subtest("publish and clear", t_publish_and_clear);
  return done_testing();
}
