/* http_token.c: comma-separated header token lists, walked in place. */
#include "http_token.h"

#include <string.h>
#include <strings.h>

int http_token_next(kds_slice list, size_t *pos, kds_slice *item) {
  while (list.ptr && *pos < list.len) {
    const char *s = list.ptr + *pos, *end = list.ptr + list.len;
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *e = comma ? comma : end;
    *pos = (size_t)(e - list.ptr) + (comma ? 1 : 0);
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (e > s) {
      item->ptr = s;
      item->len = (size_t)(e - s);
      return 1;
    }
  }
  return 0;
}

int http_token_has(kds_slice list, const char *token) {
  size_t pos = 0, n = strlen(token);
  kds_slice item;
  while (http_token_next(list, &pos, &item))
    if (item.len == n && strncasecmp(item.ptr, token, n) == 0) return 1;
  return 0;
}
