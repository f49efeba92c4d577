/* Unit tests for shared/buf.c and shared/err.c. */
#include "test.h"

#include "buf.h"
#include "err.h"

static void t_buf(void) {
  kds_buf b = KDS_BUF_INIT;
  ok(kds_buf_adds(&b, "hello") == 0 && b.len == 5 && strcmp(b.base, "hello") == 0, "adds");
  ok(kds_buf_addf(&b, " %d %s", 42, "x") == 0 && strcmp(b.base, "hello 42 x") == 0, "addf");
  for (int i = 0; i < 1000; i++) kds_buf_addc(&b, 'a');
  ok(b.len == 1010 && b.base[b.len] == '\0', "grows and stays terminated");
  kds_buf_consume(&b, 6);
  ok(strncmp(b.base, "42 x", 4) == 0 && b.len == 1004, "consume");
  size_t n;
  char *p = kds_buf_detach(&b, &n);
  ok(p && n == 1004 && b.base == NULL && b.len == 0, "detach");
  free(p);
  p = kds_buf_detach(&b, &n);
  ok(p && n == 0 && p[0] == '\0', "detach of an empty buffer gives an empty string");
  free(p);
  kds_buf_release(&b);
}

static void t_slice(void) {
  kds_slice s = {"Content-Type: x", 12};
  ok(kds_slice_eq(s, "Content-Type"), "eq");
  ok(kds_slice_caseeq(s, "content-type"), "caseeq");
  ok(!kds_slice_eq(s, "Content-Typ"), "length matters");
}

static void t_err(void) {
  kds_err e;
  ok(kds_err_set(&e, 422, "validation_failed", "items[0].qty", "qty must be %d..%d", 1, 999) == KDS_EREQUEST,
     "set returns KDS_EREQUEST, not -1 (UV_EPERM)");
  ok(e.status == 422 && strcmp(e.field, "items[0].qty") == 0 && strcmp(e.message, "qty must be 1..999") == 0,
     "fields");
  ok(strcmp(kds_strerror(KDS_ENOMEM), "out of memory") == 0, "strerror of ours");
  ok(strlen(kds_strerror(-104)) > 0, "strerror of an errno code");
}

int main(void) {
  subtest("buf", t_buf);
  subtest("slice", t_slice);
  subtest("err", t_err);
  return done_testing();
}
