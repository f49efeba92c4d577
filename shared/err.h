/* err.h: the project's error codes (one table, libuv codes pass through) and kds_err,
 * the error a request handler owes its user: HTTP status, snake_case code, message, field. */
#ifndef KDS_ERR_H
#define KDS_ERR_H

#include <stddef.h>

/* Our codes start at -10000 so that libuv's (-errno) pass through unchanged. */
#define KDS_ERR_MAP(XX)                                  \
  XX(NOMEM, -10000, "out of memory")                     \
  XX(INVAL, -10001, "invalid argument")                  \
  XX(AGAIN, -10002, "need more input")                   \
  XX(PROTO, -10003, "protocol error")                    \
  XX(TOOBIG, -10004, "input over its size limit")        \
  XX(NOTFOUND, -10005, "not found")                      \
  XX(DB, -10006, "database error")                       \
  XX(CLOSED, -10007, "connection closed")                \
  XX(FULL, -10008, "queue full")                         \
  XX(STATE, -10009, "operation not valid in this state") \
  XX(TLS, -10011, "TLS handshake or certificate error")  \
  XX(REQUEST, -10010, "request refused (the kds_err says why)")

enum {
#define XX(name, value, text) KDS_E##name = (value),
  KDS_ERR_MAP(XX)
#undef XX
};

/* Returns a static human sentence for any of our codes or a libuv code. */
const char *kds_strerror(int err);

/* What a failed request tells its user. `status` is the HTTP status (0: not set).
 * Strings are NUL-terminated and truncated to fit. `current_status` is set only on a
 * 409 for an order transition (SPEC 11.2). */
typedef struct kds_err {
  int status;
  char code[48];
  char message[256];
  char field[64];
  char current_status[16];
  int retry_after; /* seconds, for a 429; 0 otherwise */
} kds_err;

/* Fills `e` (any previous content is overwritten; field may be NULL). Returns KDS_EREQUEST
 * ("the user's request is refused; `e` says why"), a code of the one table and never a
 * libuv one (-1 would be UV_EPERM), so that callers can `return kds_err_set(...)`. The message is
 * printf-formatted. */
int kds_err_set(kds_err *e, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Resets `e` to "no error". */
void kds_err_clear(kds_err *e);

#endif
