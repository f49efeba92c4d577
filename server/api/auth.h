/* auth.h: who is asking. Passwords (scrypt through OpenSSL, verified on the libuv thread
 * pool, never on the loop thread), bearer tokens (32 random bytes, base64url, stored only
 * as sha256 hex), an in-memory token -> user cache on the loop thread so that a request
 * does not need the DB thread, and the rate limiters of SPEC 11.7. */
#ifndef KDS_AUTH_H
#define KDS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "db.h" /* kds_user */

struct server;
struct auth;
typedef struct uv_loop_s uv_loop_t;

#define AUTH_TOKEN_SIZE 44 /* 43 base64url characters + NUL */
#define AUTH_HASH_SIZE 65  /* sha256 hex + NUL */
#define AUTH_PASSWORD_HASH_SIZE 160
#define AUTH_SESSION_TTL_MS (12 * 3600 * 1000LL) /* login sessions (SPEC 11.18) */
#define AUTH_TOKEN_MAX 512                       /* longer bearer tokens are refused without a lookup */
#define AUTH_REVALIDATE_MS 60000                 /* a cached token is re-read from the DB after this */

/* Creates the auth state for `srv` (limits from srv->cfg.login_rate and order_rate; token
 * lookups go to srv->db, so call after db_open) and sets srv->auth. Returns 0 or KDS_ENOMEM
 * or a libuv error. */
int auth_init(struct server *srv);

/* The same without a server (tests): lookups go to `db`. */
int auth_new(uv_loop_t *loop, struct db *db, int64_t login_rate, int64_t order_rate, struct auth **out);

/* Stops lookups (later calls fail with KDS_ECLOSED) and frees the state once the lookups in
 * flight have called back. Call before the loop ends; the DB must still answer (close the
 * DB after, or let db_close finish what it has). Idempotent; NULL is a no-op. With a
 * server, srv->auth is set to NULL at once. */
void auth_close(struct auth *a);

/* ---- tokens ---------------------------------------------------------------------------- */

/* cb(ud, rc, user): rc 0 with the user (valid during the call only), KDS_ENOTFOUND for an
 * unknown, revoked or expired token (user NULL), or another error (DB failure). */
typedef void (*auth_user_cb)(void *ud, int rc, const kds_user *user);

/* Finds the user of bearer token `token` (NUL-terminated). Always asynchronous: cb runs on
 * the loop thread after this returns, once, from the cache (next loop iteration) or after
 * the DB thread answered. Returns 0, or KDS_ECLOSED/KDS_ENOMEM/KDS_EFULL: then cb never
 * runs. Loop thread only. */
int auth_token_lookup(struct auth *a, const char *token, auth_user_cb cb, void *ud);

/* The same, for callers that need more than the user: cb(ud, rc, user, expires_at, hash)
 * with the token's expiry (epoch ms, 0 = never; 0 too when rc != 0) and its sha256 hex
 * ("" for NULL or a string longer than AUTH_TOKEN_MAX). Same returns and rules as auth_token_lookup. */
typedef void (*auth_token_cb)(void *ud, int rc, const kds_user *user, int64_t expires_at, const char *hash);
int auth_token_check(struct auth *a, const char *token, auth_token_cb cb, void *ud);

/* Told when a token lookup that went to the DB found the token unknown, revoked or expired
 * (sha256 hex): how a revocation made by another process (a second server on the same
 * database, an operator's UPDATE) shows here, once the cache re-reads the token (at most a minute after
 * it was cached) on its next use. One callback per auth state; NULL clears it. The
 * callback may not call back into auth synchronously with a lookup for the same hash. */
typedef void (*auth_revoked_cb)(void *ud, const char *hash);
void auth_set_revoked_cb(struct auth *a, auth_revoked_cb cb, void *ud);

/* Re-reads token hash `hash` from the DB unless the cache read it less than
 * AUTH_REVALIDATE_MS ago; a token found unknown, revoked or expired goes to the revoked
 * callback (later, from the DB's answer; never inside this call). For holders of long-lived
 * connections that never look their token up again. Returns 1 (a read was started), 0
 * (fresh in the cache: nothing to do), or KDS_ECLOSED / KDS_ENOMEM / the DB's submit error
 * (KDS_EFULL: its queue is full). */
int auth_token_revalidate(struct auth *a, const char *hash);

/* Synchronous cache probe for hot paths: 0 and *user filled when `token` is cached and
 * valid, else KDS_ENOTFOUND (then use auth_token_lookup). `hash` (may be NULL) gets the
 * token's sha256 hex either way. */
int auth_token_cached(struct auth *a, const char *token, kds_user *user, char hash[AUTH_HASH_SIZE]);

/* Drops a token from the cache at once (logout, revoke) and tells the revoked callback
 * (auth_set_revoked_cb: the sockets opened with it are disconnected). */
void auth_token_forget(struct auth *a, const char *hash);

/* Caches a token just issued (login), valid until expires_at (epoch ms, 0 = never). */
void auth_token_remember(struct auth *a, const char *hash, const kds_user *user, int64_t expires_at);

/* A new random token (32 bytes from the OS CSPRNG, base64url, 43 characters) and its
 * sha256 hex. Returns 0 or KDS_EINVAL if the CSPRNG failed. */
int auth_token_new(char token[AUTH_TOKEN_SIZE], char hash[AUTH_HASH_SIZE]);

/* sha256 hex of a token. */
void auth_token_hash(const char *token, char hash[AUTH_HASH_SIZE]);

/* ---- passwords -------------------------------------------------------------------------- */

/* Hashes `password` with scrypt (N=16384, r=8, p=1, 16-byte random salt, 32-byte key) into
 * "scrypt$16384$8$1$<salt b64>$<key b64>" (the reference's format). Slow (~50 ms) and
 * synchronous: for the CLI, or the thread pool. Returns 0, KDS_EINVAL or KDS_ENOMEM. */
int auth_password_hash(const char *password, char out[AUTH_PASSWORD_HASH_SIZE]);

/* Checks `password` against `stored` in constant time. A NULL or malformed `stored` is
 * checked against a dummy hash, so that an unknown user takes as long. Returns 1 (match),
 * 0 (no match). Slow and synchronous. */
int auth_password_check(const char *password, const char *stored);

/* cb(ud, ok): ok is 1 when the password matched. */
typedef void (*auth_verify_cb)(void *ud, int ok);

/* auth_password_check on the libuv thread pool; cb runs on the loop thread. Both strings
 * are copied (stored may be NULL: unknown user, dummy check). Returns 0, KDS_ENOMEM or a
 * libuv error; then cb never runs. */
int auth_password_verify(uv_loop_t *loop, const char *password, const char *stored, auth_verify_cb cb,
                         void *ud);

/* ---- rate limits (fixed one-minute windows, in memory) ----------------------------------- */
/* A NULL auth (closed) limits nothing. */

/* Seconds `address` must wait before trying to log in (0: not limited). */
int auth_login_retry_after(struct auth *a, const char *address);
/* Counts a failed login from `address`. */
void auth_login_failed(struct auth *a, const char *address);

/* Seconds `user_id` must wait before creating an order (0: not limited); when not limited,
 * the attempt is counted. */
int auth_order_admit(struct auth *a, int64_t user_id);

#endif
