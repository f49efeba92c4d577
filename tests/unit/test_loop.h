/* test_loop.h: helpers for unit tests that drive one uv loop (header-only; include after
 * test.h). It owns the test's `loop`: test_loop_start() takes the default loop and starts a
 * 10 ms tick (so that uv_run(UV_RUN_ONCE) returns and the time limits below hold while
 * nothing else is active) and a deadline that aborts a stuck test; run_until*() run the loop
 * until a condition or a time limit; test_loop_finish() ends with the check that nothing
 * is left alive on the loop. */
#ifndef KDS_TEST_LOOP_H
#define KDS_TEST_LOOP_H

#include <uv.h>

#include "test.h"

static uv_loop_t *loop;
static uv_timer_t test_tick_, test_deadline_;
static void (*test_on_timeout_)(void);

/* Runs the loop until pred(arg) is non-zero or `ms` pass. Returns pred's last value. */
static inline int run_until_fn(int (*pred)(void *), void *arg, unsigned ms) {
  uint64_t end = uv_now(loop) + ms;
  while (!pred(arg) && uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
  return pred(arg);
}

/* Runs the loop until *flag is non-zero or `ms` pass. Returns the flag. */
static inline int run_until(int *flag, unsigned ms) {
  uint64_t end = uv_now(loop) + ms;
  while (!*flag && uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
  return *flag;
}

/* Runs the loop until *counter >= n or `ms` pass. Returns 1 if the count was reached. */
static inline int run_until_n(int *counter, int n, unsigned ms) {
  uint64_t end = uv_now(loop) + ms;
  while (*counter < n && uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
  return *counter >= n;
}

/* Runs the loop for `ms`. */
static inline void run_for(unsigned ms) {
  int never = 0;
  run_until(&never, ms);
}

/* A read buffer for test peers that consume every byte in their read callback. */
static inline void test_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  static char buf[65536];
  (void)h;
  (void)suggested;
  b->base = buf;
  b->len = sizeof(buf);
}

static inline void test_on_tick_(uv_timer_t *t) {
  (void)t;
}

static inline void test_on_deadline_(uv_timer_t *t) {
  (void)t;
  printf("not ok - test timed out\n");
  fflush(stdout);
  if (test_on_timeout_) test_on_timeout_();
  abort();
}

/* Sets `loop` to the default loop, starts the tick, and a deadline (unref'd: it never keeps
 * the loop alive) after which the test prints a failure, calls on_timeout (may be NULL;
 * e.g. to kill a child process) and aborts. */
static inline void test_loop_start(unsigned timeout_ms, void (*on_timeout)(void)) {
  loop = uv_default_loop();
  test_on_timeout_ = on_timeout;
  uv_timer_init(loop, &test_tick_);
  uv_timer_start(&test_tick_, test_on_tick_, 10, 10);
  uv_timer_init(loop, &test_deadline_);
  uv_timer_start(&test_deadline_, test_on_deadline_, timeout_ms, 0);
  uv_unref((uv_handle_t *)&test_deadline_);
}

static inline void test_dump_walk_(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_has_ref(h) && uv_is_active(h) && !uv_is_closing(h))
    printf("# still active: %s\n", uv_handle_type_name(h->type));
}

static inline void test_close_walk_(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Closes the tick and the deadline, lists (as TAP comments) handles still active, runs the
 * loop dry, closes whatever is left and checks that the loop then closes. Call once every
 * object of the test was closed (ws hub, servers, clients). */
static inline void test_loop_finish(void) {
  uv_close((uv_handle_t *)&test_tick_, NULL);
  uv_close((uv_handle_t *)&test_deadline_, NULL);
  uv_walk(loop, test_dump_walk_, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_walk(loop, test_close_walk_, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  ok(uv_loop_close(loop) == 0, "nothing left alive on the loop");
}

#endif
