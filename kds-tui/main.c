/* main.c: kds-tui entry point: options, the loop, and the exit status. */
#include <locale.h>
#include <langinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app.h"

int main(int argc, char **argv) {
  app_args args;
  app_t *app;
  uv_loop_t loop;
  char err[512] = "";
  int rc;

  /* UTF-8 names need a UTF-8 locale; C.UTF-8 when the environment has none. */
  if (!setlocale(LC_ALL, "") || strcmp(nl_langinfo(CODESET), "UTF-8") != 0) setlocale(LC_CTYPE, "C.UTF-8");
  signal(SIGPIPE, SIG_IGN);

  rc = app_args_parse(&args, argc, argv, stdout, err, sizeof(err));
  if (rc == 1) return 0;
  if (rc) {
    fprintf(stderr, "kds-tui: %s\n", err);
    return 2;
  }
  app = calloc(1, sizeof(*app));
  if (!app || uv_loop_init(&loop) != 0) {
    fprintf(stderr, "kds-tui: out of memory\n");
    free(app);
    return 1;
  }
  rc = app_start(app, &loop, &args, err, sizeof(err));
  if (rc) app_close(app);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (rc == 0 && app->exit_code == 0 && app->fatal) rc = -1;
  int code = rc ? 1 : app->exit_code;
  if (rc)
    fprintf(stderr, "kds-tui: %s\n", err[0] ? err : "failed");
  else if (app->fatal)
    fprintf(stderr, "kds-tui: %s\n", app->last_error);
  app_release(app);
  free(app);
  if (uv_loop_close(&loop) != 0) fprintf(stderr, "kds-tui: handles left open at exit\n");
  return code;
}
