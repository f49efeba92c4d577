/* auth.c: scrypt passwords, hashed bearer tokens with a loop-thread cache, rate limiters. */
#include "auth.h"

#include <assert.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base64.h"
#include "hash.h"
#include "list.h"
#include "log.h"
#include "order.h"
#include "server.h"

#define SCRYPT_N 16384
#define SCRYPT_R 8
#define SCRYPT_P 1
#define SCRYPT_SALT 16
#define SCRYPT_KEY 32
#define SCRYPT_MAXMEM (64u * 1024 * 1024)

#define CACHE_BUCKETS 4096
#define CACHE_MAX 20000 /* tokens cached; beyond, the oldest half is dropped */
/* A cached token is re-read after this (revoked elsewhere): auth.h, realtime.c sweeps by it. */
#define CACHE_REVALIDATE_MS AUTH_REVALIDATE_MS
#define DIGEST_SLOTS 4096 /* raw token -> sha256 memo (token_digest) */
#define LIMIT_BUCKETS 1024
#define LIMIT_MAX 100000 /* keys tracked per limiter; beyond, new keys are limited */
#define LIMIT_WINDOW_MS 60000

/* Compared against when the user does not exist, so that both cases take as long (the
 * key matches no password anyone is likely to type). */
static const char dummy_hash[] =
    "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$Pqr6WAdYzBvN9nV8h8wOf9BTbyBEuq6P0ZMjkE2Nq1k=";

typedef struct cache_entry {
  kds_list bucket; /* in its bucket */
  kds_list age;    /* in the cache's insertion order (oldest first) */
  char hash[AUTH_HASH_SIZE];
  kds_user user;
  int64_t expires_at; /* epoch ms, 0 = never */
  uint64_t cached_at; /* uv_now */
} cache_entry;

typedef struct limit_entry {
  struct limit_entry *next;
  uint64_t reset_at; /* uv_now ms */
  int64_t count;
  char key[];
} limit_entry;

typedef struct limiter {
  int64_t limit; /* 0: off */
  limit_entry *buckets[LIMIT_BUCKETS];
  size_t n;
  uint64_t next_sweep;
} limiter;

/* One memo slot: a bearer token of ours (43 characters) and its sha256 hex. */
typedef struct digest_slot {
  char token[AUTH_TOKEN_SIZE];
  char hash[AUTH_HASH_SIZE];
} digest_slot;

/* A token lookup in flight (DB) or answered from the cache and waiting for delivery. */
typedef struct lookup {
  kds_list node;
  struct auth *a;
  auth_user_cb cb; /* one of cb / cb_ex */
  auth_token_cb cb_ex;
  void *ud;
  int rc;
  kds_user user;
  int64_t expires_at;
  char hash[AUTH_HASH_SIZE];
} lookup;

struct auth {
  uv_loop_t *loop;
  struct server *srv;
  struct db *db;  /* without a server */
  uv_idle_t idle; /* delivers cache hits on the next loop iteration */
  kds_list ready; /* lookups answered from the cache */
  kds_list buckets[CACHE_BUCKETS];
  kds_list ages;
  size_t ncache;
  limiter login;
  limiter orders;
  size_t inflight; /* lookups waiting for the DB thread */
  int closing;
  int idle_closed;
  auth_revoked_cb on_revoked; /* a token the DB no longer knows (auth_set_revoked_cb) */
  void *revoked_ud;
  digest_slot *digests; /* DIGEST_SLOTS, or NULL (out of memory: every lookup hashes) */
};

typedef struct auth auth;

/* ---- tokens and hashes --------------------------------------------------------------------- */

void auth_token_hash(const char *token, char hash[AUTH_HASH_SIZE]) {
  static const char digits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) != 1) n = 0;
  for (unsigned i = 0; i < 32; i++) {
    hash[2 * i] = i < n ? digits[md[i] >> 4] : '0';
    hash[2 * i + 1] = i < n ? digits[md[i] & 15] : '0';
  }
  hash[64] = '\0';
}

int auth_token_new(char token[AUTH_TOKEN_SIZE], char hash[AUTH_HASH_SIZE]) {
  unsigned char raw[32];
  _Static_assert(AUTH_TOKEN_SIZE >= 43 + 1, "a token is 43 base64url characters and a NUL");
  if (RAND_bytes(raw, sizeof(raw)) != 1) return KDS_EINVAL;
  base64_encode_to(token, raw, sizeof(raw), BASE64_URL | BASE64_NOPAD);
  OPENSSL_cleanse(raw, sizeof(raw));
  auth_token_hash(token, hash);
  return 0;
}

/* ---- passwords ------------------------------------------------------------------------------ */

static int scrypt(const char *password, const unsigned char *salt, size_t saltlen, uint64_t n, uint64_t r,
                  uint64_t p, unsigned char *key, size_t keylen) {
  return EVP_PBE_scrypt(password, strlen(password), salt, saltlen, n, r, p, SCRYPT_MAXMEM, key, keylen) == 1
             ? 0
             : KDS_EINVAL;
}

int auth_password_hash(const char *password, char out[AUTH_PASSWORD_HASH_SIZE]) {
  unsigned char salt[SCRYPT_SALT], key[SCRYPT_KEY];
  char s64[32], k64[48]; /* 24 and 44 characters, and a NUL */
  if (RAND_bytes(salt, sizeof(salt)) != 1) return KDS_EINVAL;
  if (scrypt(password, salt, sizeof(salt), SCRYPT_N, SCRYPT_R, SCRYPT_P, key, sizeof(key)) != 0)
    return KDS_EINVAL;
  base64_encode_to(s64, salt, sizeof(salt), 0);
  base64_encode_to(k64, key, sizeof(key), 0);
  snprintf(out, AUTH_PASSWORD_HASH_SIZE, "scrypt$%d$%d$%d$%s$%s", SCRYPT_N, SCRYPT_R, SCRYPT_P, s64, k64);
  OPENSSL_cleanse(key, sizeof(key));
  return 0;
}

/* Decodes standard base64 (with padding) of 1 to `cap` bytes; returns the length or -1. */
static int b64_decode(const char *s, size_t len, unsigned char *out, size_t cap) {
  ssize_t n = base64_decode_to(out, cap, s, len, BASE64_STRICT);
  return n < 1 ? -1 : (int)n;
}

/* Parses "scrypt$N$r$p$salt$key" with sane bounds; 0 or -1. */
static int parse_stored(const char *stored, uint64_t *n, uint64_t *r, uint64_t *p, unsigned char *salt,
                        int *saltlen, unsigned char *key, int *keylen) {
  const char *f[6];
  size_t flen[6];
  const char *s = stored;
  for (int i = 0; i < 6; i++) {
    const char *end = strchr(s, '$');
    if (i < 5 && end == NULL) return -1;
    if (i == 5) end = s + strlen(s);
    f[i] = s;
    flen[i] = (size_t)(end - s);
    s = end + 1;
  }
  if (flen[0] != 6 || strncmp(f[0], "scrypt", 6) != 0) return -1;
  *n = strtoull(f[1], NULL, 10);
  *r = strtoull(f[2], NULL, 10);
  *p = strtoull(f[3], NULL, 10);
  /* bounded work: a hostile row must not make a login take minutes or gigabytes */
  if (*n < 2 || *n > (1u << 20) || (*n & (*n - 1)) != 0 || *r < 1 || *r > 32 || *p < 1 || *p > 16) return -1;
  if ((*saltlen = b64_decode(f[4], flen[4], salt, 64)) < 0) return -1;
  if ((*keylen = b64_decode(f[5], flen[5], key, 64)) < 0) return -1;
  return 0;
}

int auth_password_check(const char *password, const char *stored) {
  uint64_t n, r, p;
  unsigned char salt[64], key[64], got[64];
  int saltlen, keylen, ok;
  int real = stored != NULL && parse_stored(stored, &n, &r, &p, salt, &saltlen, key, &keylen) == 0;
  if (!real && parse_stored(dummy_hash, &n, &r, &p, salt, &saltlen, key, &keylen) != 0) return 0;
  if (scrypt(password ? password : "", salt, (size_t)saltlen, n, r, p, got, (size_t)keylen) != 0) return 0;
  ok = CRYPTO_memcmp(got, key, (size_t)keylen) == 0;
  OPENSSL_cleanse(got, sizeof(got));
  return real && ok;
}

typedef struct verify_work {
  uv_work_t work;
  auth_verify_cb cb;
  void *ud;
  int ok;
  char *password;
  char *stored;
} verify_work;

static void on_verify_work(uv_work_t *w) {
  verify_work *v = kds_container_of(w, verify_work, work);
  v->ok = auth_password_check(v->password, v->stored);
}

static void free_secret(char *s) {
  if (s) OPENSSL_cleanse(s, strlen(s));
  free(s);
}

static void on_verify_done(uv_work_t *w, int status) {
  verify_work *v = kds_container_of(w, verify_work, work);
  v->cb(v->ud, status == 0 && v->ok);
  free_secret(v->password);
  free(v->stored);
  free(v);
}

int auth_password_verify(uv_loop_t *loop, const char *password, const char *stored, auth_verify_cb cb,
                         void *ud) {
  verify_work *v = calloc(1, sizeof(*v));
  int rc;
  if (v == NULL) return KDS_ENOMEM;
  v->cb = cb;
  v->ud = ud;
  v->password = strdup(password ? password : "");
  v->stored = stored ? strdup(stored) : NULL;
  if (v->password == NULL || (stored && v->stored == NULL)) {
    rc = KDS_ENOMEM;
    goto fail;
  }
  if ((rc = uv_queue_work(loop, &v->work, on_verify_work, on_verify_done)) != 0) goto fail;
  return 0;
fail:
  free_secret(v->password);
  free(v->stored);
  free(v);
  return rc;
}

/* ---- the token cache -------------------------------------------------------------------------- */

static cache_entry *cache_find(auth *a, const char *hash) {
  kds_list *b = &a->buckets[kds_hash_str(hash) % CACHE_BUCKETS];
  for (kds_list *n = b->next; n != b; n = n->next) {
    cache_entry *e = kds_container_of(n, cache_entry, bucket);
    if (strcmp(e->hash, hash) == 0) return e;
  }
  return NULL;
}

static void cache_drop(auth *a, cache_entry *e) {
  assert(a->ncache > 0);
  kds_list_remove(&e->bucket);
  kds_list_remove(&e->age);
  a->ncache--;
  free(e);
}

void auth_token_forget(auth *a, const char *hash) {
  cache_entry *e;
  if (a == NULL) return;
  if ((e = cache_find(a, hash)) != NULL) cache_drop(a, e);
  if (a->on_revoked && !a->closing) a->on_revoked(a->revoked_ud, hash);
}

void auth_token_remember(auth *a, const char *hash, const kds_user *user, int64_t expires_at) {
  cache_entry *e;
  if (a == NULL || a->closing) return;
  if ((e = cache_find(a, hash)) != NULL) cache_drop(a, e);
  if (a->ncache >= CACHE_MAX) { /* drop the oldest half: simple and bounded */
    while (a->ncache > CACHE_MAX / 2) cache_drop(a, kds_container_of(a->ages.next, cache_entry, age));
  }
  if ((e = calloc(1, sizeof(*e))) == NULL) return; /* a cache miss is only slower */
  snprintf(e->hash, sizeof(e->hash), "%s", hash);
  e->user = *user;
  e->expires_at = expires_at;
  e->cached_at = uv_now(a->loop);
  kds_list_push(&a->buckets[kds_hash_str(hash) % CACHE_BUCKETS], &e->bucket);
  kds_list_push(&a->ages, &e->age);
  a->ncache++;
}

/* auth_token_hash through a direct-mapped memo keyed by the raw token: every request
 * carries its token, and hashing it (an EVP fetch and SHA-256) was a measurable share of
 * a POST. A digest never goes stale, so the memo needs no invalidation: revocation and
 * expiry stay the token cache's business. An attacker cycling tokens only evicts slots
 * (each miss costs what every lookup cost before); the memo holds raw tokens, so it is
 * wiped when the auth state goes. */
static void token_digest(auth *a, const char *token, char hash[AUTH_HASH_SIZE]) {
  size_t len = strlen(token);
  digest_slot *d;
  if (a->digests == NULL || len >= AUTH_TOKEN_SIZE) {
    auth_token_hash(token, hash);
    return;
  }
  d = &a->digests[kds_hash(token, len) % DIGEST_SLOTS];
  if (d->hash[0] && CRYPTO_memcmp(d->token, token, len + 1) == 0) { /* no timing oracle on tokens */
    memcpy(hash, d->hash, AUTH_HASH_SIZE);
    return;
  }
  auth_token_hash(token, hash);
  memcpy(d->token, token, len + 1);
  memcpy(d->hash, hash, AUTH_HASH_SIZE);
}

/* The cached user of token hash `h` while fresh (else dropped): 0 or KDS_ENOTFOUND. */
static int cache_get(auth *a, const char *h, kds_user *user, int64_t *expires_at) {
  cache_entry *e;
  if (a == NULL || (e = cache_find(a, h)) == NULL) return KDS_ENOTFOUND;
  if ((e->expires_at && order_now_ms() >= e->expires_at) ||
      uv_now(a->loop) - e->cached_at >= CACHE_REVALIDATE_MS) {
    cache_drop(a, e);
    return KDS_ENOTFOUND;
  }
  *user = e->user;
  if (expires_at) *expires_at = e->expires_at;
  return 0;
}

int auth_token_cached(auth *a, const char *token, kds_user *user, char hash[AUTH_HASH_SIZE]) {
  char h[AUTH_HASH_SIZE];
  if (a)
    token_digest(a, token, h);
  else
    auth_token_hash(token, h);
  if (hash) memcpy(hash, h, AUTH_HASH_SIZE);
  return cache_get(a, h, user, NULL);
}

void auth_set_revoked_cb(auth *a, auth_revoked_cb cb, void *ud) {
  if (a == NULL) return;
  a->on_revoked = cb;
  a->revoked_ud = ud;
}

static void on_idle_closed(uv_handle_t *h);

/* Frees the state once closing and nothing is owed to a caller any more. */
static void maybe_free(auth *a) {
  if (!a->closing || a->idle_closed || a->inflight || !kds_list_empty(&a->ready)) return;
  a->idle_closed = 1;
  uv_close((uv_handle_t *)&a->idle, on_idle_closed); /* frees in the close callback */
}

static void on_idle_closed(uv_handle_t *h) {
  auth *a = h->data;
  while (!kds_list_empty(&a->ages)) cache_drop(a, kds_container_of(a->ages.next, cache_entry, age));
  for (int l = 0; l < 2; l++) {
    limiter *lim = l ? &a->orders : &a->login;
    for (int i = 0; i < LIMIT_BUCKETS; i++) {
      while (lim->buckets[i]) {
        limit_entry *e = lim->buckets[i];
        lim->buckets[i] = e->next;
        free(e);
      }
    }
  }
  if (a->digests) OPENSSL_cleanse(a->digests, DIGEST_SLOTS * sizeof(*a->digests));
  free(a->digests);
  free(a);
}

static void deliver(lookup *l) {
  if (l->cb == NULL && l->cb_ex == NULL) { /* auth_token_revalidate: on_revoked told */
    free(l);
    return;
  }
  if (l->cb_ex)
    l->cb_ex(l->ud, l->rc, l->rc == 0 ? &l->user : NULL, l->rc == 0 ? l->expires_at : 0, l->hash);
  else
    l->cb(l->ud, l->rc, l->rc == 0 ? &l->user : NULL);
  free(l);
}

static void on_idle(uv_idle_t *h) {
  auth *a = h->data;
  kds_list batch;
  kds_list_init(&batch);
  kds_list_splice(&batch, &a->ready);
  uv_idle_stop(&a->idle);
  while (!kds_list_empty(&batch)) {
    lookup *l = kds_container_of(batch.next, lookup, node);
    kds_list_remove(&l->node);
    deliver(l);
  }
  maybe_free(a);
}

static void on_token_user(db_req *r) {
  lookup *l = r->ud;
  auth *a = l->a;
  a->inflight--;
  l->rc = r->rc;
  if (r->rc == 0) {
    l->user = r->found;
    l->expires_at = r->expires_at;
    auth_token_remember(a, l->hash, &r->found, r->expires_at);
  } else if (r->rc != KDS_ENOTFOUND) {
    log_error("auth: token lookup failed: %s", kds_strerror(r->rc));
  }
  /* Every DB lookup is where a token revoked by another process shows (the cache re-reads
   * after CACHE_REVALIDATE_MS): whoever holds sockets opened with it hears of it. */
  if (r->rc == KDS_ENOTFOUND && a->on_revoked && !a->closing) a->on_revoked(a->revoked_ud, l->hash);
  deliver(l);
  maybe_free(a);
}

static struct db *auth_db(auth *a) {
  return a->srv ? a->srv->db : a->db;
}

/* Hands lookup `l` (its hash set) to the DB thread; on_token_user answers it. Returns 0,
 * or an error with `l` freed. */
static int lookup_submit(auth *a, lookup *l) {
  db_req *r = db_req_new(DB_TOKEN_USER, on_token_user, l);
  int rc;
  if (r == NULL) {
    free(l);
    return KDS_ENOMEM;
  }
  memcpy(r->in.token.token_hash, l->hash, AUTH_HASH_SIZE);
  if ((rc = db_submit(auth_db(a), r)) != 0) {
    free(l); /* db_submit freed r */
    return rc;
  }
  a->inflight++;
  return 0;
}

static int lookup_start(auth *a, const char *token, auth_user_cb cb, auth_token_cb cb_ex, void *ud) {
  lookup *l;
  if (a == NULL || a->closing) return KDS_ECLOSED;
  if ((l = calloc(1, sizeof(*l))) == NULL) return KDS_ENOMEM;
  kds_list_init(&l->node);
  l->a = a;
  l->cb = cb;
  l->cb_ex = cb_ex;
  l->ud = ud;
  if (token == NULL || *token == '\0' || strlen(token) > AUTH_TOKEN_MAX) {
    l->rc = KDS_ENOTFOUND; /* not a token of ours: no lookup */
    if (token && strlen(token) <= AUTH_TOKEN_MAX) auth_token_hash(token, l->hash);
  } else {
    token_digest(a, token, l->hash);
    l->rc = cache_get(a, l->hash, &l->user, &l->expires_at);
    if (l->rc == KDS_ENOTFOUND) return lookup_submit(a, l); /* ask the DB thread */
  }
  kds_list_push(&a->ready, &l->node);
  uv_idle_start(&a->idle, on_idle);
  return 0;
}

int auth_token_lookup(auth *a, const char *token, auth_user_cb cb, void *ud) {
  return lookup_start(a, token, cb, NULL, ud);
}

int auth_token_check(auth *a, const char *token, auth_token_cb cb, void *ud) {
  return lookup_start(a, token, NULL, cb, ud);
}

int auth_token_revalidate(auth *a, const char *hash) {
  kds_user u;
  lookup *l;
  int rc;
  if (a == NULL || a->closing) return KDS_ECLOSED;
  if (cache_get(a, hash, &u, NULL) == 0) return 0; /* read less than a period ago */
  if ((l = calloc(1, sizeof(*l))) == NULL) return KDS_ENOMEM;
  kds_list_init(&l->node);
  l->a = a;
  snprintf(l->hash, sizeof(l->hash), "%s", hash);
  if ((rc = lookup_submit(a, l)) != 0) return rc;
  return 1;
}

/* ---- rate limiters ------------------------------------------------------------------------------ */

static void limiter_sweep(limiter *lim, uint64_t now) {
  for (int i = 0; i < LIMIT_BUCKETS; i++) {
    limit_entry **pp = &lim->buckets[i];
    while (*pp) {
      limit_entry *e = *pp;
      if (now >= e->reset_at) {
        *pp = e->next;
        free(e);
        lim->n--;
      } else {
        pp = &e->next;
      }
    }
  }
  lim->next_sweep = now + LIMIT_WINDOW_MS;
}

/* The current window of `key`, created when missing; NULL when the table is full. */
static limit_entry *limiter_window(limiter *lim, const char *key, uint64_t now) {
  limit_entry **head = &lim->buckets[kds_hash_str(key) % LIMIT_BUCKETS], *e;
  size_t klen = strlen(key);
  if (now >= lim->next_sweep) limiter_sweep(lim, now);
  for (e = *head; e; e = e->next) {
    if (strcmp(e->key, key) == 0) {
      if (now >= e->reset_at) {
        e->count = 0;
        e->reset_at = now + LIMIT_WINDOW_MS;
      }
      return e;
    }
  }
  if (lim->n >= LIMIT_MAX) {
    limiter_sweep(lim, now);
    if (lim->n >= LIMIT_MAX) return NULL;
  }
  if ((e = malloc(sizeof(*e) + klen + 1)) == NULL) return NULL;
  memcpy(e->key, key, klen + 1);
  e->count = 0;
  e->reset_at = now + LIMIT_WINDOW_MS;
  e->next = *head;
  *head = e;
  lim->n++;
  return e;
}

static int retry_secs(uint64_t reset_at, uint64_t now) {
  uint64_t ms = reset_at > now ? reset_at - now : 0;
  int s = (int)((ms + 999) / 1000);
  return s < 1 ? 1 : s;
}

static int limiter_retry_after(limiter *lim, const char *key, uint64_t now) {
  limit_entry *e;
  if (lim->limit <= 0) return 0;
  if ((e = limiter_window(lim, key, now)) == NULL) return LIMIT_WINDOW_MS / 1000; /* table full: wait */
  return e->count >= lim->limit ? retry_secs(e->reset_at, now) : 0;
}

static void limiter_hit(limiter *lim, const char *key, uint64_t now) {
  limit_entry *e;
  if (lim->limit > 0 && (e = limiter_window(lim, key, now)) != NULL) e->count++;
}

int auth_login_retry_after(auth *a, const char *address) {
  if (a == NULL) return 0;
  return limiter_retry_after(&a->login, address, uv_now(a->loop));
}

void auth_login_failed(auth *a, const char *address) {
  if (a == NULL) return;
  limiter_hit(&a->login, address, uv_now(a->loop));
}

int auth_order_admit(auth *a, int64_t user_id) {
  char key[32];
  uint64_t now;
  int wait;
  if (a == NULL) return 0;
  now = uv_now(a->loop);
  snprintf(key, sizeof(key), "%" PRId64, user_id);
  if ((wait = limiter_retry_after(&a->orders, key, now)) != 0) return wait;
  limiter_hit(&a->orders, key, now);
  return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------------- */

static int auth_create(uv_loop_t *loop, struct server *srv, struct db *db, int64_t login_rate,
                       int64_t order_rate, auth **out) {
  auth *a = calloc(1, sizeof(*a));
  int rc;
  if (a == NULL) return KDS_ENOMEM;
  a->loop = loop;
  a->srv = srv;
  a->db = db;
  kds_list_init(&a->ready);
  kds_list_init(&a->ages);
  for (int i = 0; i < CACHE_BUCKETS; i++) kds_list_init(&a->buckets[i]);
  a->digests = calloc(DIGEST_SLOTS, sizeof(*a->digests)); /* optional: NULL only costs speed */
  a->login.limit = login_rate;
  a->orders.limit = order_rate;
  if ((rc = uv_idle_init(loop, &a->idle)) != 0) {
    free(a->digests);
    free(a);
    return rc;
  }
  a->idle.data = a;
  *out = a;
  return 0;
}

int auth_new(uv_loop_t *loop, struct db *db, int64_t login_rate, int64_t order_rate, auth **out) {
  return auth_create(loop, NULL, db, login_rate, order_rate, out);
}

int auth_init(struct server *srv) {
  auth *a = NULL;
  int rc = auth_create(srv->loop, srv, NULL, srv->cfg.login_rate, srv->cfg.order_rate, &a);
  if (rc == 0) srv->auth = a;
  return rc;
}

void auth_close(auth *a) {
  if (a == NULL || a->closing) return;
  a->closing = 1;
  if (a->srv && a->srv->auth == a) a->srv->auth = NULL;
  maybe_free(a);
}
