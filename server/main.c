/* main.c: kds-server's entry point: options, then serve or run a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "version.h"

int main(int argc, char **argv) {
  static kds_config cfg; /* large: keep it off the stack */
  char err[512];

  if (config_parse(&cfg, argc, argv, err, sizeof(err)) != 0) {
    fprintf(stderr, "kds-server: %s\n%s", err, config_usage());
    return 2;
  }
  if (cfg.help) {
    fputs(config_usage(), stdout);
    return 0;
  }
  if (cfg.version) {
    printf("kds-server %s\n", kds_version());
    return 0;
  }
  kds_log_set_level(cfg.log_level);
  if (strcmp(cfg.command, "useradd") == 0) return cli_useradd(&cfg);
  if (strcmp(cfg.command, "token") == 0) return cli_token(&cfg);
  if (strcmp(cfg.command, "backup") == 0) return cli_backup(&cfg);
  return server_run(&cfg);
}
