/* Unit tests for server/config.c: defaults, environment, the command line winning over it,
 * subcommands and usage errors. */
#include "test.h"

#include <stdlib.h>

#include "config.h"
#include "err.h"

static kds_config cfg;
static char err[256];

static int parse(int argc, char **argv) {
  return config_parse(&cfg, argc, argv, err, sizeof(err));
}

static void clear_env(void) {
  const char *vars[] = {"PORT",       "KDS_HOST",        "KDS_PORT",    "KDS_DB",
                        "KDS_PUBLIC", "KDS_CORS_ORIGIN", "KDS_WS_AUTH", "KDS_LOG_LEVEL",
                        "KDS_DEMO",   "KDS_CLIENT_DIR"};
  for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) unsetenv(vars[i]);
}

static void t_defaults(void) {
  char *argv[] = {"kds-server", NULL};
  clear_env();
  ok(parse(1, argv) == 0, "no arguments parse");
  ok(strcmp(cfg.host, "0.0.0.0") == 0 && cfg.port == 3000, "host 0.0.0.0, port 3000");
  ok(strcmp(cfg.db_path, "kds.db") == 0 && strcmp(cfg.cors_origins, "*") == 0, "db kds.db, cors *");
  ok(cfg.ws_auth == 1 && cfg.demo == 0 && strcmp(cfg.log_level, "info") == 0, "ws-auth on, no demo, info");
  ok(cfg.body_limit == 65536 && cfg.ping_interval == 25000 && cfg.ping_timeout == 20000 &&
         cfg.max_payload == 1000000,
     "SPEC 8 limits and Engine.IO defaults");
  ok(cfg.login_rate == 10 && cfg.order_rate == 600, "rate limits of SPEC 11.7");
  ok(cfg.max_pending == 50000 && cfg.max_pending_ip == 5000, "Engine.IO pending-session caps of SPEC 11.25");
  ok(cfg.command[0] == '\0', "serving is the default");
}

static void t_env_and_argv(void) {
  clear_env();
  setenv("KDS_PORT", "4000", 1);
  setenv("PORT", "4100", 1);
  setenv("KDS_WS_AUTH", "off", 1);
  setenv("KDS_DEMO", "yes", 1);
  setenv("KDS_DB", "/tmp/env.db", 1);
  char *argv1[] = {"kds-server", NULL};
  ok(parse(1, argv1) == 0 && cfg.port == 4100, "PORT wins over KDS_PORT");
  ok(cfg.ws_auth == 0 && cfg.demo == 1 && strcmp(cfg.db_path, "/tmp/env.db") == 0, "environment read");
  char *argv2[] = {"kds-server", "--port", "5000", "--ws-auth=on", "--db", "x.db", "--order-rate", "0", NULL};
  ok(parse(8, argv2) == 0 && cfg.port == 5000 && cfg.ws_auth == 1, "the command line wins");
  ok(strcmp(cfg.db_path, "x.db") == 0 && cfg.order_rate == 0, "--opt value and --opt=value");
  setenv("KDS_WS_AUTH", "maybe", 1);
  ok(parse(1, argv1) == KDS_EINVAL && strstr(err, "KDS_WS_AUTH") != NULL,
     "a bad environment value names the variable");
  clear_env();
}

static void t_errors(void) {
  char *a1[] = {"kds-server", "--port", "70000", NULL};
  ok(parse(3, a1) == KDS_EINVAL && strstr(err, "--port") != NULL, "port out of range: %s", err);
  char *a2[] = {"kds-server", "--nope", "1", NULL};
  ok(parse(3, a2) == KDS_EINVAL && strstr(err, "unknown option") != NULL, "unknown option: %s", err);
  char *a3[] = {"kds-server", "--db", NULL};
  ok(parse(2, a3) == KDS_EINVAL && strstr(err, "needs a value") != NULL, "missing value: %s", err);
  char *a4[] = {"kds-server", "--log-level", "loud", NULL};
  ok(parse(3, a4) == KDS_EINVAL, "bad log level");
  char *a5[] = {"kds-server", "--port", "12x", NULL};
  ok(parse(3, a5) == KDS_EINVAL, "trailing junk in a number");
  char *a6[] = {"kds-server", "frobnicate", NULL};
  ok(parse(2, a6) == KDS_EINVAL && strstr(err, "unknown command") != NULL, "unknown command: %s", err);
}

static void t_pending_caps(void) {
  char *a1[] = {"kds-server", "--max-pending-sessions", "300", "--max-pending-sessions-per-address=20", NULL};
  ok(parse(4, a1) == 0 && cfg.max_pending == 300 && cfg.max_pending_ip == 20, "both caps set");
  char *a2[] = {"kds-server", "--max-pending-sessions", "0", NULL};
  ok(parse(3, a2) == KDS_EINVAL && strstr(err, "--max-pending-sessions") != NULL, "a cap of 0 refused: %s",
     err);
  char *a3[] = {"kds-server", "--max-pending-sessions-per-address", "-1", NULL};
  ok(parse(3, a3) == KDS_EINVAL && strstr(err, "per-address") != NULL, "a negative cap refused: %s", err);
  ok(strstr(config_usage(), "--max-pending-sessions-per-address N") != NULL, "in the usage text");
}

static void t_subcommands(void) {
  char *a1[] = {"kds-server", "--db",    "k.db",     "useradd", "kasir1",
                "--role",     "cashier", "--outlet", "2",       NULL};
  ok(parse(9, a1) == 0 && strcmp(cfg.command, "useradd") == 0 && strcmp(cfg.command_arg, "kasir1") == 0,
     "useradd NAME");
  ok(strcmp(cfg.role, "cashier") == 0 && cfg.outlet == 2, "--role and --outlet");
  char *a2[] = {"kds-server", "useradd", "x", NULL};
  ok(parse(3, a2) == KDS_EINVAL && strstr(err, "--role") != NULL, "useradd without --role");
  char *a3[] = {"kds-server", "useradd", "x", "--role", "chef", NULL};
  ok(parse(5, a3) == KDS_EINVAL, "an unknown role");
  char *a4[] = {"kds-server", "token", "dapur1", "--ttl", "7", NULL};
  ok(parse(5, a4) == 0 && strcmp(cfg.command, "token") == 0 && cfg.ttl_days == 7, "token NAME --ttl");
  char *a5[] = {"kds-server", "token", NULL};
  ok(parse(2, a5) == KDS_EINVAL && strstr(err, "user name") != NULL, "token without a name");
  char *a6[] = {"kds-server", "token", "a", "b", NULL};
  ok(parse(4, a6) == KDS_EINVAL, "an extra argument");
  char *a7[] = {"kds-server", "--help", NULL};
  ok(parse(2, a7) == 0 && cfg.help == 1 && strstr(config_usage(), "useradd") != NULL, "--help");
}

/* SPEC 12: backup DEST, --trust-proxy, --sid-prefix, and the data folders of a build-tree binary. */
static void t_install(void) {
  clear_env();
  char *a1[] = {"kds-server", "--db", "x.db", "backup", "/tmp/copy.db", NULL};
  ok(parse(5, a1) == 0 && strcmp(cfg.command, "backup") == 0 && strcmp(cfg.command_arg, "/tmp/copy.db") == 0,
     "backup DEST");
  char *a2[] = {"kds-server", "backup", NULL};
  ok(parse(2, a2) == KDS_EINVAL && strstr(err, "destination") != NULL, "backup without DEST: %s", err);
  char *a3[] = {"kds-server", "--trust-proxy", "--sid-prefix", "k1", NULL};
  ok(parse(4, a3) == 0 && cfg.trust_proxy == 1 && strcmp(cfg.sid_prefix, "k1") == 0,
     "--trust-proxy, --sid-prefix");
  char *a4[] = {"kds-server", NULL};
  ok(parse(1, a4) == 0 && cfg.trust_proxy == 0 && cfg.sid_prefix[0] == '\0', "both off by default");
  setenv("KDS_TRUST_PROXY", "yes", 1);
  setenv("KDS_SID_PREFIX", "n2", 1);
  ok(parse(1, a4) == 0 && cfg.trust_proxy == 1 && strcmp(cfg.sid_prefix, "n2") == 0,
     "KDS_TRUST_PROXY, KDS_SID_PREFIX");
  unsetenv("KDS_TRUST_PROXY");
  unsetenv("KDS_SID_PREFIX");
  char *a5[] = {"kds-server", "--sid-prefix", "a-b", NULL};
  ok(parse(3, a5) == KDS_EINVAL && strstr(err, "--sid-prefix") != NULL, "a bad --sid-prefix: %s", err);
  char *a6[] = {"kds-server", "--sid-prefix", "123456789", NULL};
  ok(parse(3, a6) == KDS_EINVAL, "--sid-prefix longer than 8");
  /* This test binary is no installed one: the pages come from the source tree. */
  ok(parse(1, a4) == 0 && strstr(cfg.public_dir, "public") != NULL &&
         strstr(cfg.public_dir, "share/kds") == NULL,
     "a build-tree binary reads the source tree: %s", cfg.public_dir);
}

int main(void) {
  subtest("defaults", t_defaults);
  subtest("environment and command line", t_env_and_argv);
  subtest("errors", t_errors);
  subtest("pending-session caps", t_pending_caps);
  subtest("subcommands", t_subcommands);
  subtest("install, backup, proxy", t_install);
  return done_testing();
}
