/* fuzz.h: what the libFuzzer targets share (header-only): the entry points' prototypes, an
 * invariant check that aborts (libFuzzer reports it as a crash with the input), and a reader
 * that takes structure (sizes, flags, numbers) from the front of the input. */
#ifndef KDS_FUZZ_H
#define KDS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant is a finding like a crash: say which, then abort. */
static inline void fuzz_check(int cond, const char *what) {
  if (!cond) {
    fprintf(stderr, "fuzz: invariant broken: %s\n", what);
    abort();
  }
}

/* Consumes the input from the front; reads past the end give zeros (never fail). */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in;

static inline unsigned fuzz_u8(fuzz_in *in) {
  if (in->n == 0) return 0;
  in->n--;
  return *in->p++;
}

static inline unsigned fuzz_u16(fuzz_in *in) {
  unsigned hi = fuzz_u8(in);
  return (hi << 8) | fuzz_u8(in);
}

static inline uint64_t fuzz_u64(fuzz_in *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | fuzz_u8(in);
  return v;
}

/* Up to `max` bytes (fewer at the end of the input); returns how many, *out points at them. */
static inline size_t fuzz_bytes(fuzz_in *in, size_t max, const uint8_t **out) {
  size_t k = max < in->n ? max : in->n;
  *out = in->p;
  in->p += k;
  in->n -= k;
  return k;
}

#endif
