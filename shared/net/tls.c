/* tls.c: one TLS client connection = an SSL with two memory BIOs between a uv_tcp_t (the
 * ciphertext) and our end of a socketpair (the plaintext). Bytes read from TCP go into the
 * read BIO and SSL_read's output is written to the relay; bytes read from the relay go through
 * SSL_write, and the write BIO is drained to TCP after every SSL call. OpenSSL itself never
 * blocks or does I/O, so WANT_READ only means "feed more from TCP". The connection frees
 * itself once both handles are closed. */
#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

/* A peer that does not read cannot make us buffer without end: past this many bytes queued
 * towards one side, reading from the other side pauses. */
#define TLS_QUEUE_MAX (1u << 20)

struct tls_ctx {
  SSL_CTX *ssl_ctx;
  int refs;             /* the program's + one per connection */
  char last_error[640]; /* the last handshake failure, for the display */
};

enum { ST_HANDSHAKE, ST_OPEN, ST_CLOSING };

struct tls_conn {
  tls_ctx_t *ctx;
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl (SSL_set_bio) */
  uv_tcp_t *tcp;    /* ours; freed in its close callback */
  uv_pipe_t relay;  /* our end of the socketpair, once open */
  uv_pipe_t *app;   /* the other end, handed to the user on success */
  uv_shutdown_t sreq;
  tls_connect_cb cb; /* until called */
  void *ud;
  int state;
  int status;  /* the handshake's result, reported when the handles are closed on failure */
  int handles; /* open handles: tcp, relay */
  int relay_open, tcp_paused, relay_paused;
  char host[256];
  char rbuf[16384];
};

typedef struct tls_write {
  uv_write_t req;
  tls_conn_t *t;
  size_t len;
  char data[];
} tls_write;

static void conn_close(tls_conn_t *t);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_relay_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- the context ----------------------------------------------------------------------- */

int tls_ctx_new(tls_ctx_t **out, const char *ca_file, char *err, size_t errlen) {
  tls_ctx_t *c;
  int ok;
  *out = NULL;
  c = calloc(1, sizeof(*c));
  if (!c) return KDS_ENOMEM;
  ERR_clear_error();
  c->ssl_ctx = SSL_CTX_new(TLS_client_method());
  if (!c->ssl_ctx) {
    free(c);
    return KDS_ENOMEM;
  }
  c->refs = 1;
  SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
  /* A renegotiation mid-stream would change the peer under our feet: refuse it. */
  SSL_CTX_set_options(c->ssl_ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
  if (ca_file)
    ok = SSL_CTX_load_verify_locations(c->ssl_ctx, ca_file, NULL);
  else
    ok = SSL_CTX_set_default_verify_paths(c->ssl_ctx);
  if (ok != 1) {
    unsigned long e = ERR_get_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    if (ca_file)
      snprintf(err, errlen, "--ca-file %s: no CA certificate could be loaded (%s)", ca_file,
               why ? why : "not a PEM file");
    else
      snprintf(err, errlen, "the system's CA certificates could not be loaded (%s)", why ? why : "unknown");
    ERR_clear_error();
    SSL_CTX_free(c->ssl_ctx);
    free(c);
    return KDS_ETLS;
  }
  *out = c;
  return 0;
}

static void ctx_unref(tls_ctx_t *c) {
  if (!c || --c->refs > 0) return;
  SSL_CTX_free(c->ssl_ctx);
  free(c);
}

void tls_ctx_free(tls_ctx_t *ctx) {
  ctx_unref(ctx);
}

const char *tls_ctx_error(const tls_ctx_t *ctx) {
  return ctx ? ctx->last_error : "";
}

/* ---- moving bytes ----------------------------------------------------------------------- */

static void on_tcp_write(uv_write_t *req, int status);
static void on_relay_write(uv_write_t *req, int status);

/* One uv_write of a copy of `len` bytes; the request and the bytes are one allocation. */
static int write_copy(tls_conn_t *t, uv_stream_t *s, const char *data, size_t len, uv_write_cb cb) {
  tls_write *w = malloc(sizeof(*w) + len);
  uv_buf_t b;
  int rc;
  if (!w) return KDS_ENOMEM;
  w->t = t;
  w->len = len;
  memcpy(w->data, data, len);
  b = uv_buf_init(w->data, (unsigned)len);
  rc = uv_write(&w->req, s, &b, 1, cb);
  if (rc < 0) free(w);
  return rc;
}

/* Sends whatever OpenSSL wrote into the write BIO (records, alerts, close_notify). */
static int flush_tcp(tls_conn_t *t) {
  char *p;
  long n = BIO_get_mem_data(t->wbio, &p);
  int rc;
  if (n <= 0) return 0;
  rc = write_copy(t, (uv_stream_t *)t->tcp, p, (size_t)n, on_tcp_write);
  (void)BIO_reset(t->wbio);
  if (rc == 0 && !t->relay_paused && t->relay_open &&
      uv_stream_get_write_queue_size((uv_stream_t *)t->tcp) > TLS_QUEUE_MAX) {
    uv_read_stop((uv_stream_t *)&t->relay);
    t->relay_paused = 1;
  }
  return rc;
}

static void on_handle_closed(uv_handle_t *h) {
  tls_conn_t *t = h->data;
  if ((uv_handle_t *)t->tcp == h) free(h);
  if (--t->handles > 0) return;
  if (t->cb) t->cb(t->ud, t->status ? t->status : UV_ECANCELED, NULL); /* a failed handshake */
  SSL_free(t->ssl);
  ctx_unref(t->ctx);
  free(t);
}

/* The one way out: both handles closed; writes in flight are cancelled (their callbacks free
 * them before the close callbacks run). */
static void conn_close(tls_conn_t *t) {
  if (uv_is_closing((uv_handle_t *)t->tcp)) return;
  t->state = ST_CLOSING;
  uv_close((uv_handle_t *)t->tcp, on_handle_closed);
  if (t->relay_open) uv_close((uv_handle_t *)&t->relay, on_handle_closed);
}

static void on_tcp_write(uv_write_t *req, int status) {
  tls_write *w = (tls_write *)req;
  tls_conn_t *t = w->t;
  free(w);
  if (status == UV_ECANCELED) return; /* closing */
  if (status < 0) {
    if (t->state == ST_HANDSHAKE) t->status = status;
    conn_close(t);
    return;
  }
  if (t->relay_paused && t->state == ST_OPEN &&
      uv_stream_get_write_queue_size((uv_stream_t *)t->tcp) <= TLS_QUEUE_MAX / 2) {
    t->relay_paused = 0;
    uv_read_start((uv_stream_t *)&t->relay, on_alloc, on_relay_read);
  }
}

static void on_relay_write(uv_write_t *req, int status) {
  tls_write *w = (tls_write *)req;
  tls_conn_t *t = w->t;
  free(w);
  if (status == UV_ECANCELED) return;
  if (status < 0) { /* the user closed its end: nobody wants what the server sends */
    conn_close(t);
    return;
  }
  if (t->tcp_paused && t->state == ST_OPEN &&
      uv_stream_get_write_queue_size((uv_stream_t *)&t->relay) <= TLS_QUEUE_MAX / 2) {
    t->tcp_paused = 0;
    uv_read_start((uv_stream_t *)t->tcp, on_alloc, on_tcp_read);
  }
}

/* ---- the end of a connection ------------------------------------------------------------ */

static void on_shutdown(uv_shutdown_t *req, int status) {
  tls_conn_t *t = req->data;
  (void)status;
  conn_close(t);
}

/* The server is done (close_notify or TCP EOF): the user reads what is queued, then EOF. */
static void end_from_server(tls_conn_t *t) {
  if (t->state != ST_OPEN) return;
  t->state = ST_CLOSING;
  uv_read_stop((uv_stream_t *)t->tcp);
  t->sreq.data = t;
  if (uv_shutdown(&t->sreq, (uv_stream_t *)&t->relay, on_shutdown) < 0) conn_close(t);
}

/* The user closed its end: say close_notify, and close once it is written. */
static void end_from_user(tls_conn_t *t) {
  if (t->state != ST_OPEN) return;
  t->state = ST_CLOSING;
  uv_read_stop((uv_stream_t *)&t->relay);
  uv_read_stop((uv_stream_t *)t->tcp);
  ERR_clear_error();
  SSL_shutdown(t->ssl);
  t->sreq.data = t;
  if (flush_tcp(t) < 0 || uv_shutdown(&t->sreq, (uv_stream_t *)t->tcp, on_shutdown) < 0) conn_close(t);
}

/* ---- reading -------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tls_conn_t *t = h->data;
  (void)suggested;
  buf->base = t->rbuf;
  buf->len = sizeof(t->rbuf);
}

/* Names the reason of a failed handshake in ctx->last_error. */
static void describe_failure(tls_conn_t *t, int ssl_err) {
  long v = SSL_get_verify_result(t->ssl);
  unsigned long e = ERR_peek_last_error();
  const char *why;
  if (v != X509_V_OK) {
    snprintf(t->ctx->last_error, sizeof(t->ctx->last_error), "certificate verify failed: %s (host %s)",
             X509_verify_cert_error_string(v), t->host);
  } else if (ssl_err == SSL_ERROR_SSL && e && (why = ERR_reason_error_string(e)) != NULL) {
    snprintf(t->ctx->last_error, sizeof(t->ctx->last_error), "handshake failed: %s (host %s)", why, t->host);
  } else {
    snprintf(t->ctx->last_error, sizeof(t->ctx->last_error),
             "handshake failed: the server closed the connection (host %s)", t->host);
  }
  ERR_clear_error();
}

static void on_shutdown(uv_shutdown_t *req, int status);

/* cb runs from the last close callback. The alert OpenSSL wrote (unknown CA, bad certificate)
 * goes out first, so that the server's log says why we left. */
static void fail_handshake(tls_conn_t *t, int status) {
  t->status = status;
  t->state = ST_CLOSING;
  uv_read_stop((uv_stream_t *)t->tcp);
  t->sreq.data = t;
  if (uv_shutdown(&t->sreq, (uv_stream_t *)t->tcp, on_shutdown) < 0) conn_close(t);
}

static void on_app_closed(uv_handle_t *h) {
  free(h);
}

/* The handshake is done: open the socketpair and hand the user its end. */
static void handshake_done(tls_conn_t *t) {
  uv_os_sock_t fds[2];
  tls_connect_cb cb = t->cb;
  int rc;
  t->app = malloc(sizeof(*t->app));
  if (!t->app) {
    fail_handshake(t, KDS_ENOMEM);
    return;
  }
  rc = uv_socketpair(SOCK_STREAM, 0, fds, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE);
  if (rc < 0) {
    free(t->app);
    t->app = NULL;
    fail_handshake(t, rc);
    return;
  }
  uv_pipe_init(t->tcp->loop, &t->relay, 0);
  uv_pipe_init(t->tcp->loop, t->app, 0);
  t->relay.data = t;
  t->relay_open = 1;
  t->handles++;
  rc = uv_pipe_open(&t->relay, fds[0]);
  if (rc < 0) {
    close(fds[0]);
    close(fds[1]);
  } else if ((rc = uv_pipe_open(t->app, fds[1])) < 0) {
    close(fds[1]);
  } else {
    rc = uv_read_start((uv_stream_t *)&t->relay, on_alloc, on_relay_read);
  }
  if (rc < 0) {
    uv_close((uv_handle_t *)t->app, on_app_closed);
    t->app = NULL;
    fail_handshake(t, rc);
    return;
  }
  t->state = ST_OPEN;
  t->cb = NULL;
  t->app->data = NULL;
  cb(t->ud, 0, (uv_stream_t *)t->app);
}

/* Reads every record OpenSSL can decode now and passes the plaintext on. */
static void pump_in(tls_conn_t *t) {
  for (;;) {
    int n, e;
    ERR_clear_error();
    n = SSL_read(t->ssl, t->rbuf, sizeof(t->rbuf));
    if (n > 0) {
      if (write_copy(t, (uv_stream_t *)&t->relay, t->rbuf, (size_t)n, on_relay_write) < 0) {
        conn_close(t);
        return;
      }
      continue;
    }
    e = SSL_get_error(t->ssl, n);
    if (flush_tcp(t) < 0) { /* e.g. a KeyUpdate answer */
      conn_close(t);
      return;
    }
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      end_from_server(t);
    } else {
      ERR_clear_error();
      conn_close(t); /* a bad record or a refused renegotiation: the user reads EOF */
    }
    return;
  }
  if (!t->tcp_paused && uv_stream_get_write_queue_size((uv_stream_t *)&t->relay) > TLS_QUEUE_MAX) {
    uv_read_stop((uv_stream_t *)t->tcp);
    t->tcp_paused = 1;
  }
}

static void drive_handshake(tls_conn_t *t) {
  int n, e;
  ERR_clear_error();
  n = SSL_do_handshake(t->ssl);
  e = n == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, n);
  if (flush_tcp(t) < 0) {
    fail_handshake(t, KDS_ENOMEM);
    return;
  }
  if (n == 1) {
    handshake_done(t);
    /* records that came with the server's last flight (TLS 1.3 tickets, early data) */
    if (t->state == ST_OPEN) pump_in(t);
    return;
  }
  if (e == SSL_ERROR_WANT_READ) return;
  describe_failure(t, e);
  fail_handshake(t, KDS_ETLS);
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tls_conn_t *t = s->data;
  if (t->state == ST_CLOSING || nread == 0) return;
  if (nread < 0) {
    if (t->state == ST_HANDSHAKE) {
      snprintf(t->ctx->last_error, sizeof(t->ctx->last_error),
               "handshake failed: the server closed the connection (host %s)", t->host);
      fail_handshake(t, KDS_ETLS);
    } else {
      end_from_server(t); /* a TCP end without close_notify: the user's HTTP framing decides */
    }
    return;
  }
  if (BIO_write(t->rbio, buf->base, (int)nread) != (int)nread) {
    if (t->state == ST_HANDSHAKE)
      fail_handshake(t, KDS_ENOMEM);
    else
      conn_close(t);
    return;
  }
  if (t->state == ST_HANDSHAKE)
    drive_handshake(t);
  else
    pump_in(t);
}

static void on_relay_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tls_conn_t *t = s->data;
  if (t->state != ST_OPEN || nread == 0) return;
  if (nread < 0) {
    end_from_user(t);
    return;
  }
  ERR_clear_error();
  /* Memory BIOs never push back, and partial writes are off: all or an error. */
  if (SSL_write(t->ssl, buf->base, (int)nread) <= 0 || flush_tcp(t) < 0) {
    ERR_clear_error();
    conn_close(t);
  }
}

/* ---- connect ---------------------------------------------------------------------------- */

int tls_connect(tls_conn_t **out, tls_ctx_t *ctx, uv_tcp_t *tcp, const char *host, tls_connect_cb cb,
                void *ud) {
  tls_conn_t *t;
  unsigned char addr[16];
  int is_ip, rc;
  if (out) *out = NULL;
  if (!ctx || !tcp || !host || !cb || !host[0] || strlen(host) >= sizeof(t->host)) return KDS_EINVAL;
  t = calloc(1, sizeof(*t));
  if (!t) return KDS_ENOMEM;
  snprintf(t->host, sizeof(t->host), "%s", host);
  ERR_clear_error();
  t->ssl = SSL_new(ctx->ssl_ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    rc = KDS_ENOMEM;
    goto fail;
  }
  /* An empty read BIO means "no data yet", not end of file. */
  BIO_set_mem_eof_return(t->rbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio); /* ssl owns both now */
  is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
  if (is_ip) {
    /* No SNI for an address (RFC 6066); the certificate must name the address itself. */
    rc = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) == 1 ? 0 : KDS_ENOMEM;
  } else {
    SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    rc = SSL_set_tlsext_host_name(t->ssl, host) == 1 && SSL_set1_host(t->ssl, host) == 1 ? 0 : KDS_ENOMEM;
  }
  if (rc < 0) goto fail_ssl;
  SSL_set_connect_state(t->ssl);
  t->ctx = ctx;
  t->tcp = tcp;
  t->cb = cb;
  t->ud = ud;
  tcp->data = t;
  /* The ClientHello goes out now; the answer comes through on_tcp_read. */
  ERR_clear_error();
  rc = SSL_do_handshake(t->ssl);
  if (rc == 1 || SSL_get_error(t->ssl, rc) != SSL_ERROR_WANT_READ) {
    rc = KDS_ETLS;
    goto fail_ssl;
  }
  /* Reading first: once the ClientHello's write is queued nothing may fail any more (its
   * callback uses t). */
  if ((rc = uv_read_start((uv_stream_t *)tcp, on_alloc, on_tcp_read)) < 0) goto fail_ssl;
  if ((rc = flush_tcp(t)) < 0) {
    uv_read_stop((uv_stream_t *)tcp);
    goto fail_ssl;
  }
  ctx->refs++;
  t->handles = 1;
  t->state = ST_HANDSHAKE;
  if (out) *out = t;
  return 0;

fail:
  BIO_free(t->rbio);
  BIO_free(t->wbio);
fail_ssl:
  ERR_clear_error();
  SSL_free(t->ssl);
  free(t);
  return rc;
}

void tls_connect_cancel(tls_conn_t *t) {
  if (!t || !t->cb) return; /* cb already ran: nothing to cancel */
  if (t->state == ST_HANDSHAKE) t->status = UV_ECANCELED;
  conn_close(t); /* also cuts short a failed handshake's alert */
}
