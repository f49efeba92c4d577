/* Unit tests for server/api/auth.c: scrypt hashes, tokens and their hashes, the async token
 * lookup (never synchronous) and its cache, forgetting, the rate limiters, and closing with
 * lookups in flight. */
#include "test.h"

#include <openssl/evp.h>
#include <uv.h>

#include "auth.h"
#include "db.h"
#include "db_store.h"
#include "order.h"

static uv_loop_t loop;
static char dir[64], path[128];

static void t_passwords(void) {
  char h1[AUTH_PASSWORD_HASH_SIZE], h2[AUTH_PASSWORD_HASH_SIZE];
  ok(auth_password_hash("s3cret", h1) == 0 && auth_password_hash("s3cret", h2) == 0, "hashes");
  ok(strncmp(h1, "scrypt$16384$8$1$", 17) == 0, "scrypt$N$r$p$ format: %s", h1);
  ok(strcmp(h1, h2) != 0, "random salt: two hashes of one password differ");
  ok(auth_password_check("s3cret", h1) == 1, "right password");
  ok(auth_password_check("s3cret ", h1) == 0 && auth_password_check("", h1) == 0, "wrong passwords");
  ok(auth_password_check("s3cret", NULL) == 0, "unknown user (dummy hash) never matches");
  ok(auth_password_check("dummy password", NULL) == 0, "not even the dummy's own password");
  ok(auth_password_check("s3cret", "plain") == 0 && auth_password_check("s3cret", "scrypt$1$1$1$$") == 0,
     "malformed stored hashes never match");
  ok(auth_password_check("x", "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0c2FsdA==$AAAA") == 0,
     "absurd cost parameters are refused, not run");
  /* the reference's format (Node crypto.scrypt) verifies: a hash made by the Node server */
  ok(auth_password_check("admin-secret",
                         "scrypt$16384$8$1$3q2+7w8NDw8PDw8PDw8PDw==$"
                         "Xq7AjrG8w5S0PbxG3ZpFx5r4nq4cKxk7mB6d1wY7jWg=") == 0,
     "a wrong key for the password does not match");
}

static void t_tokens(void) {
  char tok[AUTH_TOKEN_SIZE], hash[AUTH_HASH_SIZE], tok2[AUTH_TOKEN_SIZE], hash2[AUTH_HASH_SIZE];
  ok(auth_token_new(tok, hash) == 0 && auth_token_new(tok2, hash2) == 0, "new tokens");
  int good = strlen(tok) == 43;
  for (size_t i = 0; i < strlen(tok); i++)
    good &= (tok[i] >= 'A' && tok[i] <= 'Z') || (tok[i] >= 'a' && tok[i] <= 'z') ||
            (tok[i] >= '0' && tok[i] <= '9') || tok[i] == '-' || tok[i] == '_';
  ok(good, "43 base64url characters (256 bits): %s", tok);
  ok(strcmp(tok, tok2) != 0, "random");
  unsigned char md[32];
  unsigned int n;
  char hex[65];
  EVP_Digest(tok, strlen(tok), md, &n, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
  ok(strcmp(hash, hex) == 0, "the stored form is sha256 hex of the token");
  auth_token_hash("abc", hash);
  ok(strcmp(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "sha256(abc)");
}

static int verified = -1;
static void on_verified(void *ud, int okv) {
  verified = okv;
}

static void t_verify_async(void) {
  char h[AUTH_PASSWORD_HASH_SIZE];
  auth_password_hash("pw", h);
  verified = -1;
  ok(auth_password_verify(&loop, "pw", h, on_verified, NULL) == 0, "queued on the thread pool");
  ok(verified == -1, "not answered synchronously");
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(verified == 1, "right password verified");
  auth_password_verify(&loop, "pw", NULL, on_verified, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(verified == 0, "unknown user: no match");
}

static struct {
  int calls, rc;
  kds_user user;
} got;

static void on_user(void *ud, int rc, const kds_user *u) {
  got.calls++;
  got.rc = rc;
  if (u) got.user = *u;
  ok((rc == 0) == (u != NULL), "user given exactly on success");
}

static void t_lookup(void) {
  void *st;
  char err[256], tok[AUTH_TOKEN_SIZE], hash[AUTH_HASH_SIZE], now[ORDER_TIME_SIZE];
  int64_t id;
  struct db *d;
  struct auth *a;
  kds_user u;

  ok(db_sqlite_ops.open(path, &st, err, sizeof(err)) == 0, "store");
  order_local_iso(order_now_ms(), now);
  db_sqlite_ops.user_add(st, "dapur", "scrypt$x", "kitchen", 3, now, &id);
  auth_token_new(tok, hash);
  db_sqlite_ops.token_add(st, hash, id, "device", now, 0);
  db_sqlite_ops.close(st);

  ok(db_new(&loop, path, 0, &d) == 0, "db");
  ok(auth_new(&loop, d, 3, 2, &a) == 0, "auth");

  memset(&got, 0, sizeof(got));
  ok(auth_token_cached(a, tok, &u, NULL) == KDS_ENOTFOUND, "not cached before the first lookup");
  ok(auth_token_lookup(a, tok, on_user, NULL) == 0 && got.calls == 0,
     "lookup queued, no synchronous callback");
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(got.calls == 1 && got.rc == 0 && strcmp(got.user.username, "dapur") == 0 && got.user.outlet_id == 3 &&
         strcmp(got.user.role, "kitchen") == 0,
     "found through the DB thread");
  ok(auth_token_cached(a, tok, &u, NULL) == 0 && u.id == id, "then cached");
  ok(auth_token_lookup(a, tok, on_user, NULL) == 0 && got.calls == 1, "a cache hit is still asynchronous");
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(got.calls == 2 && got.rc == 0, "delivered on the next loop iteration");
  auth_token_forget(a, hash);
  ok(auth_token_cached(a, tok, &u, NULL) == KDS_ENOTFOUND, "forgotten (logout)");

  auth_token_lookup(a, "no-such-token", on_user, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(got.calls == 3 && got.rc == KDS_ENOTFOUND, "unknown token");
  auth_token_lookup(a, "", on_user, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(got.calls == 4 && got.rc == KDS_ENOTFOUND, "empty token, no lookup");

  /* remembered (login) with an expiry: served until it passes, never after */
  kds_user fake = {99, "ghost", "admin", 0};
  char tok3[AUTH_TOKEN_SIZE], hash3[AUTH_HASH_SIZE], h3[AUTH_HASH_SIZE];
  auth_token_new(tok3, hash3);
  auth_token_remember(a, hash3, &fake, order_now_ms() + 60000);
  ok(auth_token_cached(a, tok3, &u, h3) == 0 && u.id == 99 && strcmp(h3, hash3) == 0, "remembered session");
  auth_token_remember(a, hash3, &fake, order_now_ms() - 1);
  ok(auth_token_cached(a, tok3, &u, NULL) == KDS_ENOTFOUND, "an expired session is not served");
  auth_token_remember(a, "short", &fake, 0); /* a bad hash is harmless */

  /* rate limits: login 3 failures per address, orders 2 per user */
  ok(auth_login_retry_after(a, "10.0.0.1") == 0, "login not limited at first");
  for (int i = 0; i < 3; i++) auth_login_failed(a, "10.0.0.1");
  int wait = auth_login_retry_after(a, "10.0.0.1");
  ok(wait >= 1 && wait <= 60, "limited after 3 failures: retry after %d s", wait);
  ok(auth_login_retry_after(a, "10.0.0.2") == 0, "per address");
  ok(auth_order_admit(a, 7) == 0 && auth_order_admit(a, 7) == 0, "two orders admitted");
  wait = auth_order_admit(a, 7);
  ok(wait >= 1 && wait <= 60, "the third is limited (%d s)", wait);
  ok(auth_order_admit(a, 8) == 0, "per user");

  /* close with a lookup in flight: it is answered, then everything is freed */
  memset(&got, 0, sizeof(got));
  ok(auth_token_lookup(a, tok, on_user, NULL) == 0, "lookup in flight");
  auth_close(a);
  ok(auth_token_lookup(a, tok, on_user, NULL) == KDS_ECLOSED, "refused after close");
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(got.calls == 1 && got.rc == 0, "the lookup in flight was answered");
  db_close(d, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);

  /* limiters off */
  ok(db_new(&loop, path, 0, &d) == 0 && auth_new(&loop, d, 0, 0, &a) == 0, "limits off");
  int limited = 0;
  for (int i = 0; i < 1000; i++) {
    auth_login_failed(a, "x");
    limited |= auth_login_retry_after(a, "x") | auth_order_admit(a, 1);
  }
  ok(!limited, "0 = no limit");
  auth_close(a);
  db_close(d, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
}

/* Lookups hash tokens through a memo (auth.c token_digest): whatever it holds, the hash
 * handed back is the token's own, also after evictions and for near-identical tokens. */
static void t_digest_memo(void) {
  struct db *d;
  struct auth *a;
  kds_user u;
  char tok[AUTH_TOKEN_SIZE], want[AUTH_HASH_SIZE], got_hash[AUTH_HASH_SIZE], first[AUTH_TOKEN_SIZE];
  char longtok[200];
  int bad = 0;
  ok(db_new(&loop, path, 0, &d) == 0 && auth_new(&loop, d, 0, 0, &a) == 0, "auth");
  auth_token_new(first, want);
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 9000; i++) { /* more tokens than memo slots: evictions */
      snprintf(tok, sizeof(tok), "tok-%d-%s", i % 5000, round ? "b" : "a");
      auth_token_hash(tok, want);
      auth_token_cached(a, tok, &u, got_hash);
      bad += strcmp(want, got_hash) != 0;
    }
  }
  ok(bad == 0, "every hash is the token's own (%d wrong)", bad);
  auth_token_hash(first, want);
  auth_token_cached(a, first, &u, got_hash);
  snprintf(tok, sizeof(tok), "%s", first);
  tok[42] = tok[42] == 'A' ? 'B' : 'A'; /* the same slot is likely not, the same prefix is */
  auth_token_cached(a, tok, &u, got_hash);
  auth_token_hash(tok, want);
  ok(strcmp(want, got_hash) == 0, "a token one character off gets its own hash");
  auth_token_cached(a, first, &u, got_hash);
  auth_token_hash(first, want);
  ok(strcmp(want, got_hash) == 0, "and the first one still its own");
  memset(longtok, 'x', sizeof(longtok) - 1);
  longtok[sizeof(longtok) - 1] = '\0';
  auth_token_cached(a, longtok, &u, got_hash);
  auth_token_hash(longtok, want);
  ok(strcmp(want, got_hash) == 0, "a token longer than ours is hashed, not memoised");
  auth_close(a);
  db_close(d, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
}

/* What realtime.c builds on (SPEC 11.22): the expiry and hash of a looked-up token, the
 * revoked callback on logout (forget) and on a DB read that no longer finds the token
 * (revoked by another process, seen by auth_token_revalidate). */
static struct {
  int calls, rc;
  int64_t expires_at;
  char hash[AUTH_HASH_SIZE];
} chk;
static int revoked_calls;
static char revoked_hash[AUTH_HASH_SIZE];

static void on_check(void *ud, int rc, const kds_user *u, int64_t expires_at, const char *hash) {
  chk.calls++;
  chk.rc = rc;
  chk.expires_at = expires_at;
  snprintf(chk.hash, sizeof(chk.hash), "%s", hash);
}

static void on_revoked(void *ud, const char *hash) {
  revoked_calls++;
  snprintf(revoked_hash, sizeof(revoked_hash), "%s", hash);
}

static void t_revocation(void) {
  void *st;
  char err[256], tok[AUTH_TOKEN_SIZE], hash[AUTH_HASH_SIZE], tok2[AUTH_TOKEN_SIZE], hash2[AUTH_HASH_SIZE];
  char now[ORDER_TIME_SIZE];
  int64_t id, exp = order_now_ms() + 3600000;
  struct db *d = NULL;
  struct auth *a = NULL;

  ok(db_sqlite_ops.open(path, &st, err, sizeof(err)) == 0, "store");
  order_local_iso(order_now_ms(), now);
  db_sqlite_ops.user_add(st, "dapur2", "scrypt$x", "kitchen", 4, now, &id);
  auth_token_new(tok, hash);
  auth_token_new(tok2, hash2);
  db_sqlite_ops.token_add(st, hash, id, "device", now, exp);
  db_sqlite_ops.token_add(st, hash2, id, "device", now, 0);
  db_sqlite_ops.close(st);
  ok(db_new(&loop, path, 0, &d) == 0 && auth_new(&loop, d, 0, 0, &a) == 0, "db and auth");
  auth_set_revoked_cb(a, on_revoked, NULL);

  memset(&chk, 0, sizeof(chk));
  ok(auth_token_check(a, tok, on_check, NULL) == 0, "check queued");
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(chk.calls == 1 && chk.rc == 0 && chk.expires_at == exp && strcmp(chk.hash, hash) == 0,
     "from the DB: the expiry and the hash");
  ok(auth_token_check(a, tok, on_check, NULL) == 0, "again");
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(chk.calls == 2 && chk.rc == 0 && chk.expires_at == exp, "from the cache: the same expiry");
  auth_token_check(a, "nope", on_check, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(chk.calls == 3 && chk.rc == KDS_ENOTFOUND && chk.expires_at == 0, "unknown: rc, no expiry");
  ok(revoked_calls == 1, "an unknown token read from the DB is reported too (nobody holds it)");

  revoked_calls = 0;
  auth_token_forget(a, hash);
  ok(revoked_calls == 1 && strcmp(revoked_hash, hash) == 0, "logout (forget) reports the hash at once");

  /* Revoked behind our back (another process), while cached: revalidation re-reads it only
   * once the cache entry is stale; an uncached hash is read at once. */
  ok(auth_token_revalidate(a, hash2) == 1, "an uncached token is read from the DB");
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(revoked_calls == 1, "still valid: nothing reported");
  ok(auth_token_revalidate(a, hash2) == 0, "now cached: nothing to do");
  ok(db_sqlite_ops.open(path, &st, err, sizeof(err)) == 0, "another process");
  db_sqlite_ops.token_revoke(st, hash2);
  db_sqlite_ops.close(st);
  auth_token_forget(a, hash2); /* stands for the cache entry going stale (AUTH_REVALIDATE_MS) */
  revoked_calls = 0;
  ok(auth_token_revalidate(a, hash2) == 1, "re-read");
  ok(revoked_calls == 0, "never reported inside the call");
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(revoked_calls == 1 && strcmp(revoked_hash, hash2) == 0, "the revocation is reported");

  auth_set_revoked_cb(a, NULL, NULL);
  auth_close(a);
  ok(auth_token_revalidate(a, hash2) == KDS_ECLOSED, "refused after close");
  db_close(d, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
}

int main(void) {
  snprintf(dir, sizeof(dir), "/tmp/kds-test-auth-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof(path), "%s/kds.db", dir);
  uv_loop_init(&loop);
  subtest("passwords", t_passwords);
  subtest("tokens", t_tokens);
  subtest("verify on the thread pool", t_verify_async);
  subtest("lookup, cache, limits, close", t_lookup);
  subtest("token digest memo", t_digest_memo);
  subtest("expiry, logout and revocation reports", t_revocation);
  ok(uv_loop_close(&loop) == 0, "nothing left on the loop");
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0) return 1;
  return done_testing();
}
