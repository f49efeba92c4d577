/* hash.c: FNV-1a (64 bits); see hash.h. */
#include "hash.h"

#include <string.h>

uint64_t kds_hash(const void *p, size_t len) {
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) h = (h ^ s[i]) * 1099511628211ULL;
  return h;
}

uint64_t kds_hash_str(const char *s) {
  return kds_hash(s, strlen(s));
}
