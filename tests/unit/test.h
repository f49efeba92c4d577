/* test.h: a tiny TAP runner for unit tests (one executable per module).
 *   ok(cond, "what");  subtest("name", fn);  return done_testing();
 * The exit status is non-zero if any check failed. */
#ifndef KDS_TEST_H
#define KDS_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int test_count, test_failed;
static const char *test_prefix = "";

#define ok(cond, ...) test_ok_((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

static inline int test_ok_(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline int test_ok_(int pass, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  test_count++;
  printf("%s %d - %s", pass ? "ok" : "not ok", test_count, test_prefix);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  if (!pass) {
    test_failed++;
    printf("#   failed at %s:%d\n", file, line);
  }
  fflush(stdout);
  return pass;
}

static inline void subtest(const char *name, void (*fn)(void)) {
  char prefix[128];
  snprintf(prefix, sizeof(prefix), "%s: ", name);
  test_prefix = prefix;
  fn();
  test_prefix = "";
}

static inline int done_testing(void) {
  printf("1..%d\n", test_count);
  if (test_failed) printf("# %d of %d checks failed\n", test_failed, test_count);
  return test_failed ? 1 : 0;
}

/* A copy of `len` bytes placed so that the byte after the last is an inaccessible
 * page: a parser that reads past its input crashes (under ASan or not). Free with
 * guard_free(p, len). */
static inline char *guard_copy(const void *data, size_t len) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t pages = (len + page - 1) / page + 1;
  char *base = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) abort();
  mprotect(base + (pages - 1) * page, page, PROT_NONE);
  char *p = base + (pages - 1) * page - len;
  if (len) memcpy(p, data, len);
  return p;
}

static inline void guard_free(char *p, size_t len) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t pages = (len + page - 1) / page + 1;
  char *end = p + len; /* start of the guard page */
  munmap(end - (pages - 1) * page, pages * page);
}

#endif
