/* test_tls.c: tls.c on loopback, against a TLS server of the test's own: a server SSL with
 * memory BIOs on an accepted uv_tcp_t, which echoes in upper case. Certificates are made in
 * memory with OpenSSL (a CA, server certificates for 127.0.0.1 and localhost, an expired one,
 * one for another name, and an unrelated CA). Covers the handshake through dial_start_tls,
 * data both ways (large enough to need many records), close_notify, SNI, the verify errors
 * as worded for the display, a server that closes, a handshake that times out, and a CA file
 * that does not load; the loop is left empty every time. */
#include "test.h"
#include "test_loop.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dial.h"
#include "err.h"
#include "tls.h"

/* ---- certificates ------------------------------------------------------------------------ */

typedef struct cred {
  EVP_PKEY *key;
  X509 *cert;
} cred;

static long serial = 1;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509_EXTENSION *e;
  X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
  e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!e) abort();
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

/* A certificate for `cn` with subjectAltName `san` (NULL for a CA), signed by `issuer` (NULL:
 * self-signed), valid from `from_days` to `to_days` around now. */
static cred make_cred(const char *cn, const char *san, const cred *issuer, long from_days, long to_days) {
  cred c;
  X509_NAME *name;
  c.key = EVP_EC_gen("P-256");
  c.cert = X509_new();
  if (!c.key || !c.cert) abort();
  X509_set_version(c.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c.cert), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(c.cert), to_days * 86400);
  X509_set_pubkey(c.cert, c.key);
  name = X509_get_subject_name(c.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(c.cert, issuer ? X509_get_subject_name(issuer->cert) : name);
  if (san) {
    add_ext(c.cert, issuer ? issuer->cert : NULL, NID_subject_alt_name, san);
    add_ext(c.cert, issuer ? issuer->cert : NULL, NID_basic_constraints, "CA:FALSE");
    add_ext(c.cert, issuer ? issuer->cert : NULL, NID_ext_key_usage, "serverAuth");
  } else {
    add_ext(c.cert, NULL, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.cert, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  if (!X509_sign(c.cert, issuer ? issuer->key : c.key, EVP_sha256())) abort();
  return c;
}

static void cred_free(cred *c) {
  EVP_PKEY_free(c->key);
  X509_free(c->cert);
}

static void write_pem(const char *path, X509 *cert) {
  FILE *f = fopen(path, "w");
  if (!f || !PEM_write_X509(f, cert)) abort();
  fclose(f);
}

/* ---- the test's server ------------------------------------------------------------------- */

typedef struct srv {
  uv_tcp_t listener;
  int port;
  SSL_CTX *ctx;
  int mute;        /* accept and never answer (the handshake times out) */
  int close_after; /* close_notify + close once the handshake is done */
  int plain;       /* not TLS at all: an HTTP 400 to whatever comes, then close */
  int accepted, handshakes, got_close_notify, closed;
  char sni[64];
} srv_t;

typedef struct sconn {
  uv_tcp_t tcp;
  srv_t *srv;
  SSL *ssl;
  BIO *rbio, *wbio;
  int done;
} sconn;

static void on_sconn_closed(uv_handle_t *h) {
  sconn *c = h->data;
  c->srv->closed++;
  SSL_free(c->ssl);
  free(c);
}

static void sconn_close(sconn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_sconn_closed);
}

typedef struct swrite {
  uv_write_t req;
  char data[];
} swrite;

static void on_swrite(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static void sconn_flush(sconn *c) {
  char *p;
  long n = BIO_get_mem_data(c->wbio, &p);
  swrite *w;
  uv_buf_t b;
  if (n <= 0) return;
  w = malloc(sizeof(*w) + (size_t)n);
  memcpy(w->data, p, (size_t)n);
  (void)BIO_reset(c->wbio);
  b = uv_buf_init(w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_swrite) < 0) free(w);
}

static void on_sconn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  sconn *c = s->data;
  char out[16384];
  int n;
  if (nread < 0) {
    sconn_close(c);
    return;
  }
  if (nread == 0 || c->srv->mute) return;
  if (c->srv->plain) {
    static char resp[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    uv_buf_t b = uv_buf_init(resp, sizeof(resp) - 1);
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    sconn_close(c);
    return;
  }
  BIO_write(c->rbio, buf->base, (int)nread);
  if (!c->done) {
    n = SSL_do_handshake(c->ssl);
    sconn_flush(c);
    if (n != 1) {
      if (SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_READ) sconn_close(c); /* the client refused us */
      ERR_clear_error();
      return;
    }
    c->done = 1;
    c->srv->handshakes++;
    const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    snprintf(c->srv->sni, sizeof(c->srv->sni), "%s", sni ? sni : "");
    if (c->srv->close_after) {
      SSL_write(c->ssl, "bye", 3);
      SSL_shutdown(c->ssl);
      sconn_flush(c);
      sconn_close(c);
      return;
    }
  }
  while ((n = SSL_read(c->ssl, out, sizeof(out))) > 0) {
    for (int i = 0; i < n; i++) out[i] = (char)toupper((unsigned char)out[i]);
    SSL_write(c->ssl, out, n);
  }
  if (SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN) c->srv->got_close_notify = 1;
  ERR_clear_error();
  sconn_flush(c);
}

static void on_connection(uv_stream_t *l, int status) {
  srv_t *srv = l->data;
  sconn *c = calloc(1, sizeof(*c));
  (void)status;
  c->srv = srv;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->ssl = SSL_new(srv->ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(c->rbio, -1);
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  SSL_set_accept_state(c->ssl);
  if (uv_accept(l, (uv_stream_t *)&c->tcp) == 0) {
    srv->accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, test_alloc, on_sconn_read);
  } else {
    sconn_close(c);
  }
}

/* A server whose certificate is `leaf`, sending `chain` after it (may be NULL). */
static void srv_start(srv_t *srv, const cred *leaf, X509 *chain) {
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof(got);
  memset(srv, 0, sizeof(*srv));
  srv->ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate(srv->ctx, leaf->cert);
  SSL_CTX_use_PrivateKey(srv->ctx, leaf->key);
  if (chain) SSL_CTX_add1_chain_cert(srv->ctx, chain);
  uv_tcp_init(loop, &srv->listener);
  srv->listener.data = srv;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&srv->listener, (const struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&srv->listener, 16, on_connection);
  uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&got, &len);
  srv->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void srv_stop(srv_t *srv) {
  uv_close((uv_handle_t *)&srv->listener, NULL);
  run_for(20);
  SSL_CTX_free(srv->ctx);
}

/* ---- the client side ---------------------------------------------------------------------- */

typedef struct cli {
  int done, status, eof;
  uv_stream_t *s;
  kds_buf got;
} cli_t;

static void on_cli_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  cli_t *c = s->data;
  if (nread < 0) {
    c->eof = 1;
    return;
  }
  kds_buf_add(&c->got, buf->base, (size_t)nread);
}

static void on_dialed(void *ud, int status, uv_stream_t *s) {
  cli_t *c = ud;
  c->done = 1;
  c->status = status;
  c->s = s;
  if (s) {
    s->data = c;
    uv_read_start(s, test_alloc, on_cli_read);
  }
}

static void on_cli_write(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static void cli_send(cli_t *c, const char *data, size_t len) {
  uv_write_t *w = malloc(sizeof(*w));
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  if (uv_write(w, c->s, &b, 1, on_cli_write) < 0) free(w);
}

static int cli_dial(cli_t *c, tls_ctx_t *ctx, const char *host, int port, unsigned timeout_ms) {
  memset(c, 0, sizeof(*c));
  kds_buf_init(&c->got);
  c->status = 1;
  int rc = dial_start_tls(NULL, loop, host, port, timeout_ms, ctx, on_dialed, c);
  if (rc) return rc;
  run_until(&c->done, 5000);
  return c->status;
}

static void cli_end(cli_t *c) {
  dial_close(c->s);
  c->s = NULL;
  kds_buf_release(&c->got);
}

/* ---- the tests ------------------------------------------------------------------------------ */

static cred ca, other_ca, good, expired, elsewhere;
static char ca_path[] = "/tmp/test_tls_ca_XXXXXX", other_path[] = "/tmp/test_tls_other_XXXXXX";

static void test_good(void) {
  tls_ctx_t *ctx;
  srv_t srv;
  cli_t c;
  char err[200];
  static char big[300000];
  srv_start(&srv, &good, NULL);
  ok(tls_ctx_new(&ctx, ca_path, err, sizeof(err)) == 0, "context with --ca-file");
  ok(cli_dial(&c, ctx, "127.0.0.1", srv.port, 3000) == 0 && c.s, "handshake through dial_start_tls");
  ok(c.s && c.s->type == UV_NAMED_PIPE, "the plaintext is a stream of its own (the socketpair)");
  run_until(&srv.handshakes, 2000);
  ok(strcmp(tls_ctx_error(ctx), "") == 0 && srv.sni[0] == '\0', "no error; no SNI for an address");
  cli_send(&c, "hello, kitchen", 14);
  for (int i = 0; i < 300 && c.got.len < 14; i++) run_for(10);
  ok(c.got.len == 14 && memcmp(c.got.base, "HELLO, KITCHEN", 14) == 0, "echoed through both directions");
  /* many records each way, more than one read and one write of every buffer */
  for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)('a' + i % 26);
  kds_buf_reset(&c.got);
  cli_send(&c, big, sizeof(big));
  for (int i = 0; i < 500 && c.got.len < sizeof(big); i++) run_for(10);
  int same = c.got.len == sizeof(big);
  for (size_t i = 0; same && i < sizeof(big); i++) same = c.got.base[i] == (char)('A' + i % 26);
  ok(same, "300 kB there and back, in order");
  cli_end(&c);
  for (int i = 0; i < 200 && !srv.closed; i++) run_for(10);
  ok(srv.got_close_notify && srv.closed == 1, "closing the stream sends close_notify, then the TCP end");
  tls_ctx_free(ctx);
  srv_stop(&srv);
}

static void test_sni_and_names(void) {
  tls_ctx_t *ctx;
  srv_t srv;
  cli_t c;
  char err[200];
  srv_start(&srv, &good, NULL);
  tls_ctx_new(&ctx, ca_path, err, sizeof(err));
  ok(cli_dial(&c, ctx, "localhost", srv.port, 3000) == 0, "a host name: verified");
  run_until(&srv.handshakes, 2000); /* TLS 1.3: the client is done one flight before the server */
  ok(strcmp(srv.sni, "localhost") == 0, "the host name went as SNI");
  cli_end(&c);
  run_for(30);
  srv_stop(&srv);

  srv_start(&srv, &elsewhere, NULL);
  ok(cli_dial(&c, ctx, "localhost", srv.port, 3000) == KDS_ETLS && !c.s,
     "another host's certificate: KDS_ETLS");
  ok(strcmp(tls_ctx_error(ctx), "certificate verify failed: hostname mismatch (host localhost)") == 0,
     "said: %s", tls_ctx_error(ctx));
  cli_end(&c);
  ok(cli_dial(&c, ctx, "127.0.0.1", srv.port, 3000) == KDS_ETLS, "an address not in the certificate");
  ok(strcmp(tls_ctx_error(ctx), "certificate verify failed: IP address mismatch (host 127.0.0.1)") == 0,
     "said: %s", tls_ctx_error(ctx));
  cli_end(&c);
  run_for(30);
  tls_ctx_free(ctx);
  srv_stop(&srv);
}

static void test_refused(void) {
  tls_ctx_t *ctx;
  srv_t srv;
  cli_t c;
  char err[200];
  /* the server sends its chain, root included, as most do */
  srv_start(&srv, &good, ca.cert);
  tls_ctx_new(&ctx, other_path, err, sizeof(err));
  ok(cli_dial(&c, ctx, "127.0.0.1", srv.port, 3000) == KDS_ETLS, "an unknown CA: KDS_ETLS");
  ok(strcmp(tls_ctx_error(ctx),
            "certificate verify failed: self-signed certificate in certificate chain (host 127.0.0.1)") == 0,
     "said: %s", tls_ctx_error(ctx));
  cli_end(&c);
  run_for(30);
  tls_ctx_free(ctx);
  srv_stop(&srv);

  srv_start(&srv, &good, NULL);
  tls_ctx_new(&ctx, other_path, err, sizeof(err));
  ok(cli_dial(&c, ctx, "127.0.0.1", srv.port, 3000) == KDS_ETLS &&
         strcmp(tls_ctx_error(ctx),
                "certificate verify failed: unable to get local issuer certificate (host 127.0.0.1)") == 0,
     "leaf only, unknown issuer: %s", tls_ctx_error(ctx));
  cli_end(&c);
  run_for(30);
  tls_ctx_free(ctx);
  srv_stop(&srv);

  srv_start(&srv, &expired, NULL);
  tls_ctx_new(&ctx, ca_path, err, sizeof(err));
  ok(cli_dial(&c, ctx, "127.0.0.1", srv.port, 3000) == KDS_ETLS &&
         strcmp(tls_ctx_error(ctx), "certificate verify failed: certificate has expired (host 127.0.0.1)") ==
             0,
     "expired: %s", tls_ctx_error(ctx));
  cli_end(&c);
  run_for(30);
  tls_ctx_free(ctx);
  srv_stop(&srv);
}

static void test_server_closes(void) {
  tls_ctx_t *ctx;
  srv_t srv;
  cli_t c;
  char err[200];
  srv_start(&srv, &good, NULL);
  srv.close_after = 1;
  tls_ctx_new(&ctx, ca_path, err, sizeof(err));
  ok(cli_dial(&c, ctx, "127.0.0.1", srv.port, 3000) == 0, "connected");
  for (int i = 0; i < 200 && !c.eof; i++) run_for(10);
  ok(c.eof && c.got.len == 3 && memcmp(c.got.base, "bye", 3) == 0, "what the server sent, then EOF");
  cli_end(&c);
  run_for(30);
  tls_ctx_free(ctx);
  srv_stop(&srv);
}

static void test_timeout_and_plain_peer(void) {
  tls_ctx_t *ctx;
  srv_t srv;
  cli_t c;
  char err[200];
  srv_start(&srv, &good, NULL);
  srv.mute = 1;
  tls_ctx_new(&ctx, ca_path, err, sizeof(err));
  ok(cli_dial(&c, ctx, "127.0.0.1", srv.port, 200) == UV_ETIMEDOUT && !c.s, "a silent server: UV_ETIMEDOUT");
  cli_end(&c);
  run_for(30);
  srv_stop(&srv);
  ok(srv.accepted == 1 && srv.closed == 1, "the connection was closed");

  srv_start(&srv, &good, NULL);
  srv.plain = 1;
  ok(cli_dial(&c, ctx, "127.0.0.1", srv.port, 3000) == KDS_ETLS &&
         strstr(tls_ctx_error(ctx), "handshake failed: ") && strstr(tls_ctx_error(ctx), "(host 127.0.0.1)"),
     "a plain HTTP server: %s", tls_ctx_error(ctx));
  cli_end(&c);
  run_for(30);
  srv_stop(&srv);
  tls_ctx_free(ctx); /* after its connections: the last reference frees it */
}

static void test_ctx(void) {
  tls_ctx_t *ctx = NULL;
  char err[200] = "";
  ok(tls_ctx_new(&ctx, "/nonexistent/ca.pem", err, sizeof(err)) == KDS_ETLS && !ctx &&
         strstr(err, "--ca-file /nonexistent/ca.pem: no CA certificate could be loaded"),
     "a CA file that does not load: %s", err);
  ok(tls_ctx_new(&ctx, NULL, err, sizeof(err)) == 0 && ctx, "the system store");
  ok(strcmp(kds_strerror(KDS_ETLS), "TLS handshake or certificate error") == 0, "KDS_ETLS has a text");
  tls_ctx_free(ctx);
  tls_ctx_free(NULL);
}

int main(void) {
  int fd;
  test_loop_start(30000, NULL);
  ca = make_cred("KDS Test CA", NULL, NULL, -1, 2);
  other_ca = make_cred("Other CA", NULL, NULL, -1, 2);
  good = make_cred("server", "IP:127.0.0.1,DNS:localhost", &ca, -1, 2);
  expired = make_cred("expired", "IP:127.0.0.1", &ca, -3, -1);
  elsewhere = make_cred("elsewhere", "DNS:elsewhere.example", &ca, -1, 2);
  if ((fd = mkstemp(ca_path)) < 0) abort();
  close(fd);
  if ((fd = mkstemp(other_path)) < 0) abort();
  close(fd);
  write_pem(ca_path, ca.cert);
  write_pem(other_path, other_ca.cert);

  subtest("handshake, data, close_notify", test_good);
  subtest("SNI and host names", test_sni_and_names);
  subtest("refused certificates, worded for the display", test_refused);
  subtest("the server closes", test_server_closes);
  subtest("a silent server, a plain one", test_timeout_and_plain_peer);
  subtest("contexts", test_ctx);

  unlink(ca_path);
  unlink(other_path);
  cred_free(&ca);
  cred_free(&other_ca);
  cred_free(&good);
  cred_free(&expired);
  cred_free(&elsewhere);
  test_loop_finish();
  return done_testing();
}
