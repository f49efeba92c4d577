/* redis_adapter.h: broadcasts between server processes over Redis pub/sub, wire-compatible
 * with @socket.io/redis-adapter 8.x in its classic mode (SPEC 9, SCALEOUT.md 1). It wraps the
 * order service's broadcast (broadcast.h): each publish is delivered locally first, then
 * PUBLISHed as msgpack [uid, packet, opts] to `<key>#/#` (two rooms: the outlet and the
 * all-outlets room). A second connection PSUBSCRIBEs `<key>#/#*` and delivers what other
 * servers (ours, Node socket.io nodes, @socket.io/redis-emitter) publish to the local sockets
 * in its rooms, minus its except (socket ids are rooms), honouring volatile.
 *
 * It also SUBSCRIBEs the request channel `<key>-request#/#`, which makes Redis count it as a
 * node, and so answers on `<key>-response#/#` every request a Node node waits for: 0 and 5
 * (our sockets, for fetchSockets), 1 (our rooms, allRooms), 6 with an ack (null: no
 * server-side listeners here) and 7 (a broadcast with acks: delivered, our client count,
 * then each client's ack). socketsJoin/socketsLeave/disconnectSockets (2, 3, 4) expect no
 * answer and are not applied: rooms come from tokens only (SPEC 4).
 *
 * Failure model: Redis being away never fails an order (the publish returns the local
 * delivery count; the remote copy is counted as a failure and lost). The connections are
 * watched: a connect timeout of our own (hiredis 0.14.1's libuv adapter never reports a
 * refused connect), TCP keepalive, reconnect with exponential backoff, PSUBSCRIBE again; a
 * lost subscription is a gap (logged, kds_redis_gaps_total), and displays resync over REST.
 * Bad messages on our channels (not msgpack, another adapter's format, bin arguments,
 * over the size limit) are dropped, logged at most once a second, and counted
 * (kds_redis_dropped_total). Loop thread only. */
#ifndef KDS_REDIS_ADAPTER_H
#define KDS_REDIS_ADAPTER_H

#include <stddef.h>

struct server;
typedef struct redis_adapter redis_adapter_t;

/* A parsed --redis URL: redis://[[user]:password@]host[:port][/db]. */
typedef struct redis_url {
  char host[256];
  int port;           /* 6379 when absent */
  int db;             /* 0 when absent; pub/sub ignores it (channels are server-wide) */
  char user[128];     /* "" = AUTH with the password alone */
  char password[256]; /* "" = no AUTH */
} redis_url;

/* Parses `url`. Returns 0, or KDS_EINVAL with a one-line reason in err (size errlen). */
int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen);

/* Starts the adapter for srv->cfg.redis_url / redis_key: parses the URL, picks a random
 * uid, starts connecting (asynchronously; the first connection may fail and is retried)
 * and installs itself over srv->bcast, wrapping what is installed there (realtime: call
 * after realtime_init). Returns 0 (*out set, owned by the caller until
 * redis_adapter_close), KDS_EINVAL (a bad URL or key: logged), KDS_ESTATE (nothing
 * installed to wrap), KDS_ENOMEM. */
int redis_adapter_start(struct server *srv, redis_adapter_t **out);

/* The adapter's uid on the wire (16 hex digits). */
const char *redis_adapter_uid(const redis_adapter_t *ra);

/* Stops: the wrapped broadcast is installed back on srv->bcast, both connections are
 * freed, and the memory goes once the timers' close callbacks have run. Idempotent; NULL
 * is a no-op. */
void redis_adapter_close(redis_adapter_t *ra);

#endif
