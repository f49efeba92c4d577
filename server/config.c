/* config.c: command line + environment -> kds_config. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "err.h"
#include "order.h"

#ifndef KDS_SOURCE_DIR
#define KDS_SOURCE_DIR "."
#endif
/* Set by CMake (SPEC 12): the installed data folder (<prefix>/share/kds), the same folder
 * relative to the installed binary's folder (so that any `--prefix` works), and the build
 * folder (a binary still there reads the source tree). */
#ifndef KDS_DATA_DIR
#define KDS_DATA_DIR "/usr/local/share/kds"
#endif
#ifndef KDS_DATA_REL
#define KDS_DATA_REL "../share/kds"
#endif
#ifndef KDS_BUILD_DIR
#define KDS_BUILD_DIR ""
#endif

static const char usage_text[] =
    "usage:\n"
    "  kds-server [--host 0.0.0.0] [--port 3000] [--db kds.db] [--public DIR] [--cors-origin LIST]\n"
    "             [--ws-auth on|off] [--log-level error|warn|info|debug] [--demo]\n"
    "             [--body-limit BYTES] [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]\n"
    "             [--login-rate N] [--order-rate N] [--max-connections N] [--client-dir DIR]\n"
    "             [--chart-dir DIR] [--trust-proxy] [--sid-prefix TAG]\n"
    "             [--max-pending-sessions N] [--max-pending-sessions-per-address N]\n"
    "             [--late-after SECONDS] [--auto-complete MINUTES] [--board-ready-for SECONDS]\n"
    "             [--redis redis://[:PASSWORD@]HOST:PORT[/DB]] [--redis-key PREFIX]\n"
    "  kds-server --db kds.db useradd NAME --role admin|cashier|kitchen|display [--outlet ID]  (password: "
    "first line "
    "of stdin)\n"
    "  kds-server --db kds.db token NAME [--ttl DAYS]                                 (prints a device "
    "token)\n"
    "  kds-server --db kds.db backup DEST              (a consistent copy, also while the server runs)\n"
    "  kds-server --version\n"
    "\n"
    "Environment: PORT, KDS_HOST, KDS_PORT, KDS_DB, KDS_PUBLIC, KDS_CORS_ORIGIN, KDS_WS_AUTH,\n"
    "KDS_LOG_LEVEL, KDS_DEMO, KDS_CLIENT_DIR, KDS_CHART_DIR, KDS_LATE_AFTER, KDS_AUTO_COMPLETE,\n"
    "KDS_BOARD_READY_FOR, KDS_TRUST_PROXY, KDS_SID_PREFIX, KDS_REDIS_URL, KDS_REDIS_KEY.\n"
    "--trust-proxy: behind a reverse proxy (deploy/nginx/kds.conf), the client address of the rate\n"
    "limits is the last X-Forwarded-For entry; never without a proxy that sets that header.\n"
    "--sid-prefix TAG (1-8 letters or digits): this process's Engine.IO sids start with TAG, so\n"
    "that a load balancer can send each session's long-polling requests back to it.\n"
    "The command line wins over the environment.\n";

const char *config_usage(void) {
  return usage_text;
}

static int parse_int(const char *name, const char *v, int64_t min, int64_t max, int64_t *out, char *err,
                     size_t errlen) {
  char *end;
  long long n;
  errno = 0;
  n = strtoll(v, &end, 10);
  if (errno || end == v || *end != '\0' || n < min || n > max) {
    snprintf(err, errlen, "--%s must be an integer from %lld to %lld", name, (long long)min, (long long)max);
    return KDS_EINVAL;
  }
  *out = n;
  return 0;
}

static int copy_str(char *dst, size_t cap, const char *name, const char *v, char *err, size_t errlen) {
  if (strlen(v) >= cap) {
    snprintf(err, errlen, "--%s is too long", name);
    return KDS_EINVAL;
  }
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

static int is_dir(const char *path) {
  return access(path, R_OK | X_OK) == 0;
}

static int env_true(const char *v) {
  return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
               strcasecmp(v, "on") == 0);
}

/* The installed data folder, when this binary is an installed one: <bindir>/KDS_DATA_REL
 * (relocatable: `cmake --install --prefix P`, `dpkg -x`), else the compiled-in KDS_DATA_DIR.
 * A binary in the build folder never looks there (an older install would shadow the tree).
 * Returns 1 with the folder in `out`, 0 when there is none. */
/* dst = a + "/" + b; 0, or -1 (and "") when it does not fit. */
static int path_join(char *dst, size_t cap, const char *a, const char *b) {
  int n = snprintf(dst, cap, "%s/%s", a, b);
  if (n < 0 || (size_t)n >= cap) {
    dst[0] = '\0';
    return -1;
  }
  return 0;
}

static int data_dir_find(char *out, size_t cap) {
  char exe[1024], build[PATH_MAX], pub[1024];
  size_t n = sizeof(exe);
  char *slash;
  if (uv_exepath(exe, &n) != 0 || (slash = strrchr(exe, '/')) == NULL) return 0;
  *slash = '\0';
  if (KDS_BUILD_DIR[0] && realpath(KDS_BUILD_DIR, build) && strcmp(build, exe) == 0) return 0;
  if (path_join(out, cap, exe, KDS_DATA_REL) == 0 && path_join(pub, sizeof(pub), out, "public") == 0 &&
      is_dir(pub))
    return 1;
  if (path_join(pub, sizeof(pub), KDS_DATA_DIR, "public") != 0 || !is_dir(pub)) return 0;
  return path_join(out, cap, KDS_DATA_DIR, ".") == 0;
}

/* The pages and the two browser bundles (SPEC 12): an installed binary reads its data folder
 * (public/, socket.io-client/, chart.js/); a binary of the build tree reads the working
 * directory when it is the source tree, else the source tree it was built from. */
static void data_dirs_default(kds_config *c) {
  char data[1024];
  if (data_dir_find(data, sizeof(data)) &&
      path_join(c->public_dir, sizeof(c->public_dir), data, "public") == 0 &&
      path_join(c->client_dir, sizeof(c->client_dir), data, "socket.io-client") == 0 &&
      path_join(c->chart_dir, sizeof(c->chart_dir), data, "chart.js") == 0)
    return;
  if (is_dir("public"))
    strcpy(c->public_dir, "public");
  else
    snprintf(c->public_dir, sizeof(c->public_dir), "%s/public", KDS_SOURCE_DIR);
  if (is_dir("node_modules/socket.io-client/dist"))
    strcpy(c->client_dir, "node_modules/socket.io-client/dist");
  else
    snprintf(c->client_dir, sizeof(c->client_dir), "%s/node_modules/socket.io-client/dist", KDS_SOURCE_DIR);
  if (is_dir("node_modules/chart.js/dist"))
    strcpy(c->chart_dir, "node_modules/chart.js/dist");
  else
    snprintf(c->chart_dir, sizeof(c->chart_dir), "%s/node_modules/chart.js/dist", KDS_SOURCE_DIR);
}

static void set_defaults(kds_config *c) {
  memset(c, 0, sizeof(*c));
  strcpy(c->host, "0.0.0.0");
  c->port = 3000;
  strcpy(c->db_path, "kds.db");
  data_dirs_default(c);
  strcpy(c->cors_origins, "*");
  strcpy(c->redis_key, "socket.io");
  c->ws_auth = 1;
  strcpy(c->log_level, "info");
  c->body_limit = 64 * 1024;
  c->ping_interval = 25000;
  c->ping_timeout = 20000;
  c->max_payload = 1000000;
  c->login_rate = 10;
  c->order_rate = 600;
  c->max_conns = 20000;
  /* A handshake is followed by the client's next request within milliseconds, so only
   * sessions in flight count: a reconnect storm of thousands of screens behind one proxy
   * address stays far below these, while a flood is held to ~30 MB (~540 B a session). */
  c->max_pending = 50000;
  c->max_pending_ip = 5000;
  c->late_after = 600;
  c->auto_complete = 0;
  c->board_ready_for = 300;
}

/* One option value, from argv or the environment; `name` without dashes. */
static int apply(kds_config *c, const char *name, const char *v, char *err, size_t errlen) {
  int64_t n;
  int r;
  if (strcmp(name, "host") == 0) return copy_str(c->host, sizeof(c->host), name, v, err, errlen);
  if (strcmp(name, "port") == 0) {
    if ((r = parse_int(name, v, 0, 65535, &n, err, errlen))) return r;
    c->port = (int)n;
    return 0;
  }
  if (strcmp(name, "db") == 0) return copy_str(c->db_path, sizeof(c->db_path), name, v, err, errlen);
  if (strcmp(name, "public") == 0)
    return copy_str(c->public_dir, sizeof(c->public_dir), name, v, err, errlen);
  if (strcmp(name, "client-dir") == 0)
    return copy_str(c->client_dir, sizeof(c->client_dir), name, v, err, errlen);
  if (strcmp(name, "chart-dir") == 0)
    return copy_str(c->chart_dir, sizeof(c->chart_dir), name, v, err, errlen);
  if (strcmp(name, "redis") == 0) return copy_str(c->redis_url, sizeof(c->redis_url), name, v, err, errlen);
  if (strcmp(name, "redis-key") == 0) {
    if (v[0] == '\0') {
      snprintf(err, errlen, "--redis-key must not be empty");
      return KDS_EINVAL;
    }
    return copy_str(c->redis_key, sizeof(c->redis_key), name, v, err, errlen);
  }
  if (strcmp(name, "sid-prefix") == 0) {
    size_t len = strlen(v);
    if (len == 0 || len > 8 ||
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != len) {
      snprintf(err, errlen, "--sid-prefix must be 1 to 8 letters or digits");
      return KDS_EINVAL;
    }
    return copy_str(c->sid_prefix, sizeof(c->sid_prefix), name, v, err, errlen);
  }
  if (strcmp(name, "cors-origin") == 0)
    return copy_str(c->cors_origins, sizeof(c->cors_origins), name, v, err, errlen);
  if (strcmp(name, "ws-auth") == 0) {
    if (strcmp(v, "on") == 0)
      c->ws_auth = 1;
    else if (strcmp(v, "off") == 0)
      c->ws_auth = 0;
    else {
      snprintf(err, errlen, "--ws-auth must be on or off");
      return KDS_EINVAL;
    }
    return 0;
  }
  if (strcmp(name, "log-level") == 0) {
    if (strcmp(v, "error") && strcmp(v, "warn") && strcmp(v, "info") && strcmp(v, "debug")) {
      snprintf(err, errlen, "--log-level must be error, warn, info or debug");
      return KDS_EINVAL;
    }
    return copy_str(c->log_level, sizeof(c->log_level), name, v, err, errlen);
  }
  if (strcmp(name, "body-limit") == 0) return parse_int(name, v, 1, 1 << 30, &c->body_limit, err, errlen);
  if (strcmp(name, "ping-interval") == 0)
    return parse_int(name, v, 1, INT32_MAX, &c->ping_interval, err, errlen);
  if (strcmp(name, "ping-timeout") == 0)
    return parse_int(name, v, 1, INT32_MAX, &c->ping_timeout, err, errlen);
  if (strcmp(name, "max-payload") == 0) return parse_int(name, v, 1, 1 << 30, &c->max_payload, err, errlen);
  if (strcmp(name, "login-rate") == 0) return parse_int(name, v, 0, 1000000000, &c->login_rate, err, errlen);
  if (strcmp(name, "order-rate") == 0) return parse_int(name, v, 0, 1000000000, &c->order_rate, err, errlen);
  if (strcmp(name, "max-connections") == 0)
    return parse_int(name, v, 1, 10000000, &c->max_conns, err, errlen);
  if (strcmp(name, "max-pending-sessions") == 0)
    return parse_int(name, v, 1, 100000000, &c->max_pending, err, errlen);
  if (strcmp(name, "max-pending-sessions-per-address") == 0)
    return parse_int(name, v, 1, 100000000, &c->max_pending_ip, err, errlen);
  if (strcmp(name, "late-after") == 0) return parse_int(name, v, 1, 86400, &c->late_after, err, errlen);
  if (strcmp(name, "auto-complete") == 0) return parse_int(name, v, 0, 1440, &c->auto_complete, err, errlen);
  if (strcmp(name, "board-ready-for") == 0)
    return parse_int(name, v, 1, 86400, &c->board_ready_for, err, errlen);
  if (strcmp(name, "role") == 0) {
    if (!order_role_valid(v)) {
      snprintf(err, errlen, "--role must be admin, cashier, kitchen or display");
      return KDS_EINVAL;
    }
    return copy_str(c->role, sizeof(c->role), name, v, err, errlen);
  }
  if (strcmp(name, "outlet") == 0) return parse_int(name, v, 1, INT32_MAX, &c->outlet, err, errlen);
  if (strcmp(name, "ttl") == 0) return parse_int(name, v, 1, 36500, &c->ttl_days, err, errlen);
  snprintf(err, errlen, "unknown option --%s", name);
  return KDS_EINVAL;
}

static const struct {
  const char *env;
  const char *option;
} env_map[] = {
    {"KDS_HOST", "host"},
    {"KDS_PORT", "port"},
    {"PORT", "port"},
    {"KDS_DB", "db"},
    {"KDS_PUBLIC", "public"},
    {"KDS_CORS_ORIGIN", "cors-origin"},
    {"KDS_WS_AUTH", "ws-auth"},
    {"KDS_LOG_LEVEL", "log-level"},
    {"KDS_CLIENT_DIR", "client-dir"},
    {"KDS_CHART_DIR", "chart-dir"},
    {"KDS_SID_PREFIX", "sid-prefix"},
    {"KDS_LATE_AFTER", "late-after"},
    {"KDS_AUTO_COMPLETE", "auto-complete"},
    {"KDS_BOARD_READY_FOR", "board-ready-for"},
    {"KDS_REDIS_URL", "redis"},
    {"KDS_REDIS_KEY", "redis-key"},
};

int config_parse(kds_config *c, int argc, char **argv, char *err, size_t errlen) {
  size_t i;
  int r;
  set_defaults(c);
  err[0] = '\0';

  /* Environment first (PORT wins over KDS_PORT, as it comes later in the table), then argv. */
  for (i = 0; i < sizeof(env_map) / sizeof(env_map[0]); i++) {
    const char *v = getenv(env_map[i].env);
    if (v && *v && (r = apply(c, env_map[i].option, v, err, errlen)) != 0) {
      char tmp[256];
      snprintf(tmp, sizeof(tmp), "%s (from %s)", err, env_map[i].env);
      snprintf(err, errlen, "%s", tmp);
      return r;
    }
  }
  if (env_true(getenv("KDS_DEMO"))) c->demo = 1;
  if (env_true(getenv("KDS_TRUST_PROXY"))) c->trust_proxy = 1;

  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      c->help = 1;
      continue;
    }
    if (strcmp(arg, "--version") == 0) {
      c->version = 1;
      continue;
    }
    if (strcmp(arg, "--demo") == 0) {
      c->demo = 1;
      continue;
    }
    if (strcmp(arg, "--trust-proxy") == 0) {
      c->trust_proxy = 1;
      continue;
    }
    if (strncmp(arg, "--", 2) == 0) {
      char name[64];
      const char *eq = strchr(arg, '=');
      const char *v;
      size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
      if (n >= sizeof(name)) {
        snprintf(err, errlen, "unknown option %s", arg);
        return KDS_EINVAL;
      }
      memcpy(name, arg + 2, n);
      name[n] = '\0';
      if (eq) {
        v = eq + 1;
      } else {
        if (a + 1 >= argc) {
          snprintf(err, errlen, "--%s needs a value", name);
          return KDS_EINVAL;
        }
        v = argv[++a];
      }
      if ((r = apply(c, name, v, err, errlen)) != 0) return r;
      continue;
    }
    /* Positionals: a subcommand and its one argument. */
    if (c->command[0] == '\0') {
      if (strcmp(arg, "useradd") && strcmp(arg, "token") && strcmp(arg, "backup")) {
        snprintf(err, errlen, "unknown command \"%s\"", arg);
        return KDS_EINVAL;
      }
      snprintf(c->command, sizeof(c->command), "%s", arg);
      continue;
    }
    if (c->command_arg[0] == '\0') {
      if ((r = copy_str(c->command_arg, sizeof(c->command_arg), "NAME", arg, err, errlen))) return r;
      continue;
    }
    snprintf(err, errlen, "unexpected argument \"%s\"", arg);
    return KDS_EINVAL;
  }

  if (c->help || c->version) return 0;
  if (c->command[0] && c->command_arg[0] == '\0') {
    snprintf(err, errlen, "%s needs %s", c->command,
             strcmp(c->command, "backup") == 0 ? "a destination file" : "a user name");
    return KDS_EINVAL;
  }
  if (strcmp(c->command, "useradd") == 0 && c->role[0] == '\0') {
    snprintf(err, errlen, "useradd needs --role admin|cashier|kitchen|display");
    return KDS_EINVAL;
  }
  return 0;
}
