/* config.h: kds-server's options, from the command line and the environment
 * (command line wins over environment, which wins over the defaults; SPEC 7). */
#ifndef KDS_CONFIG_H
#define KDS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct kds_config {
  char host[256];          /* --host / KDS_HOST, default 0.0.0.0 */
  int port;                /* --port / PORT / KDS_PORT, default 3000; 0 = any free port */
  char db_path[1024];      /* --db / KDS_DB, default kds.db */
  char public_dir[1024];   /* --public / KDS_PUBLIC, default <source>/public or ./public */
  char client_dir[1024];   /* --client-dir / KDS_CLIENT_DIR: socket.io-client's dist/ folder */
  char chart_dir[1024];    /* --chart-dir: chart.js's dist/ folder (/vendor/chart.umd.js) */
  char cors_origins[1024]; /* --cors-origin / KDS_CORS_ORIGIN, comma list, default "*" */
  int ws_auth;             /* --ws-auth on|off / KDS_WS_AUTH, default on (1) */
  char log_level[16];      /* --log-level / KDS_LOG_LEVEL, default info */
  int demo;                /* --demo / KDS_DEMO: load the demo menu into an empty menu */
  char sid_prefix[16];     /* --sid-prefix TAG / KDS_SID_PREFIX: Engine.IO sids start with it */
  int trust_proxy;         /* --trust-proxy / KDS_TRUST_PROXY: client address from X-Forwarded-For */
  int64_t body_limit;      /* --body-limit BYTES, default 65536 */
  int64_t ping_interval;   /* --ping-interval MS, default 25000 */
  int64_t ping_timeout;    /* --ping-timeout MS, default 20000 */
  int64_t max_payload;     /* --max-payload BYTES, default 1000000 */
  int64_t login_rate;      /* --login-rate N failed logins/address/minute, default 10; 0 = off */
  int64_t order_rate;      /* --order-rate N orders/user/minute, default 600; 0 = off */
  int64_t max_conns;       /* --max-connections N, default 20000 */
  int64_t max_pending;     /* --max-pending-sessions N, default 50000 (SPEC 11.25) */
  int64_t max_pending_ip;  /* --max-pending-sessions-per-address N, default 5000 */
  int64_t late_after;      /* --late-after SECONDS: a ticket is late past it, default 600 */
  int64_t auto_complete;   /* --auto-complete MINUTES: ready orders completed after it, 0 = off */
  int64_t board_ready_for; /* --board-ready-for SECONDS: the board's ready column, default 300 */
  char redis_url[1024];    /* --redis / KDS_REDIS_URL: redis://[:pw@]host:port[/db]; "" = one process */
  char redis_key[256];     /* --redis-key / KDS_REDIS_KEY: channel prefix, default socket.io */

  /* Subcommands: "useradd", "token", "backup" or "" to serve. */
  char command[16];
  char command_arg[1024]; /* the user name, or backup's destination file */
  char role[16];          /* useradd --role */
  int64_t outlet;         /* useradd --outlet, 0 = none */
  int64_t ttl_days;       /* token --ttl, 0 = never expires */
  int help;
  int version;
} kds_config;

/* Fills `cfg` from argv and the environment. On a usage error returns KDS_EINVAL and
 * writes a one-line reason into err (size errlen). */
int config_parse(kds_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* The usage text for --help and usage errors. */
const char *config_usage(void);

#endif
