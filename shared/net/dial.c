/* dial.c: resolve, then try each address in turn, under one timer. The dial object lives
 * until every libuv request it started has called back and its timer is closed; only then
 * does the user's callback run (so it never runs inside dial_start or dial_cancel). */
#include "dial.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "list.h"
#include "tls.h"

struct dial {
  uv_loop_t *loop;
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
  uv_timer_t timer;
  struct addrinfo *res; /* resolver answer, freed in finalize */
  struct addrinfo *cur; /* address being tried */
  uv_tcp_t *tcp;        /* the attempt in flight, or the winner */
  tls_ctx_t *tls;       /* NULL: plain TCP */
  tls_conn_t *tlsc;     /* the handshake in flight (it owns the tcp then) */
  uv_stream_t *plain;   /* the TLS winner's plaintext stream */
  dial_cb cb;
  void *ud;
  int status;     /* the result once finished, else the last error seen */
  int busy;       /* gai in flight + connect in flight + timer open */
  int finished;   /* result decided: no new attempts */
  int resolving;  /* the getaddrinfo request is in flight */
  char name[256]; /* the host without brackets: SNI and the certificate check */
};

static void finalize(dial_t *d) {
  uv_stream_t *s;
  if (d->busy) return;
  s = d->status != 0 ? NULL : d->plain ? d->plain : (uv_stream_t *)d->tcp;
  if (d->res) uv_freeaddrinfo(d->res);
  d->cb(d->ud, d->status, s);
  free(d);
}

static void on_tcp_free(uv_handle_t *h) {
  free(h);
}

void dial_close(uv_stream_t *stream) {
  if (stream) uv_close((uv_handle_t *)stream, on_tcp_free);
}

static void on_timer_close(uv_handle_t *h) {
  dial_t *d = h->data;
  d->busy--;
  finalize(d);
}

/* Decides the result (once) and tears down whatever is still running. */
static void finish(dial_t *d, int status) {
  if (d->finished) return;
  d->finished = 1;
  d->status = status;
  if (status != 0 && d->tcp) {
    /* A connect in flight is cancelled by the close: on_connect runs with UV_ECANCELED. */
    dial_close((uv_stream_t *)d->tcp);
    d->tcp = NULL;
  }
  if (status != 0 && d->tlsc) tls_connect_cancel(d->tlsc); /* on_tls runs with UV_ECANCELED */
  if (d->resolving) uv_cancel((uv_req_t *)&d->gai);        /* may fail: it then completes */
  uv_close((uv_handle_t *)&d->timer, on_timer_close);
}

static void on_connect(uv_connect_t *req, int status);

static void try_next(dial_t *d) {
  int rc;
  while (d->cur) {
    struct addrinfo *ai = d->cur;
    d->cur = ai->ai_next;
    d->tcp = malloc(sizeof(*d->tcp));
    if (!d->tcp) {
      d->status = KDS_ENOMEM;
      break;
    }
    rc = uv_tcp_init(d->loop, d->tcp);
    if (rc < 0) {
      free(d->tcp);
      d->tcp = NULL;
      d->status = rc;
      continue;
    }
    rc = uv_tcp_connect(&d->creq, d->tcp, ai->ai_addr, on_connect);
    if (rc == 0) {
      d->busy++;
      return;
    }
    dial_close((uv_stream_t *)d->tcp);
    d->tcp = NULL;
    d->status = rc;
  }
  finish(d, d->status ? d->status : UV_EADDRNOTAVAIL);
}

static void on_tls(void *ud, int status, uv_stream_t *plain) {
  dial_t *d = ud;
  d->tlsc = NULL;
  d->busy--;
  if (d->finished) { /* timed out or cancelled meanwhile */
    dial_close(plain);
    finalize(d);
    return;
  }
  d->plain = plain;
  finish(d, status);
}

static void on_connect(uv_connect_t *req, int status) {
  dial_t *d = kds_container_of(req, dial_t, creq);
  d->busy--;
  if (d->finished) {
    /* Timed out or cancelled meanwhile: finish() closed the handle, which cancelled us. */
    finalize(d);
    return;
  }
  if (status == 0) {
    uv_tcp_nodelay(d->tcp, 1);
    if (d->tls) {
      int rc = tls_connect(&d->tlsc, d->tls, d->tcp, d->name, on_tls, d);
      if (rc < 0) {
        finish(d, rc); /* closes the tcp */
        return;
      }
      d->tcp = NULL; /* the TLS connection's now */
      d->busy++;
      return;
    }
    finish(d, 0);
    return;
  }
  d->status = status;
  dial_close((uv_stream_t *)d->tcp);
  d->tcp = NULL;
  try_next(d);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  dial_t *d = kds_container_of(req, dial_t, gai);
  d->busy--;
  d->resolving = 0;
  d->res = res;
  if (d->finished) {
    finalize(d);
    return;
  }
  if (status < 0) {
    finish(d, status);
    return;
  }
  d->cur = res;
  try_next(d);
}

static void on_timeout(uv_timer_t *t) {
  finish(t->data, UV_ETIMEDOUT);
}

int dial_start(dial_t **out, uv_loop_t *loop, const char *host, int port, unsigned timeout_ms, dial_cb cb,
               void *ud) {
  return dial_start_tls(out, loop, host, port, timeout_ms, NULL, cb, ud);
}

int dial_start_tls(dial_t **out, uv_loop_t *loop, const char *host, int port, unsigned timeout_ms,
                   tls_ctx_t *tls, dial_cb cb, void *ud) {
  struct addrinfo hints;
  char name[256], service[16];
  size_t n;
  dial_t *d;
  int rc;

  if (out) *out = NULL;
  if (!loop || !host || !cb || port <= 0 || port > 65535) return KDS_EINVAL;
  n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') { /* "[::1]" */
    host++;
    n -= 2;
  }
  if (n == 0 || n >= sizeof(name)) return KDS_EINVAL;
  memcpy(name, host, n);
  name[n] = '\0';
  snprintf(service, sizeof(service), "%d", port);

  d = calloc(1, sizeof(*d));
  if (!d) return KDS_ENOMEM;
  d->loop = loop;
  d->cb = cb;
  d->ud = ud;
  d->tls = tls;
  memcpy(d->name, name, n + 1);
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = uv_getaddrinfo(loop, &d->gai, on_resolved, name, service, &hints);
  if (rc < 0) {
    free(d);
    return rc;
  }
  d->busy = 2; /* the resolver and the timer */
  d->resolving = 1;
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  uv_timer_start(&d->timer, on_timeout, timeout_ms ? timeout_ms : 10000, 0);
  if (out) *out = d;
  return 0;
}

void dial_cancel(dial_t *d) {
  if (d) finish(d, UV_ECANCELED);
}
