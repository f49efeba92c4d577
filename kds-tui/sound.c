/* sound.c: --sound CMD, run without blocking the loop (see sound.h). */
#include "sound.h"

#include <stdio.h>
#include <string.h>

static void fail_once(sound_t *s, const char *why) {
  if (s->failed) return;
  s->failed = 1;
  if (s->on_fail) s->on_fail(s->ud, why);
}

static void on_proc_closed(uv_handle_t *h) {
  sound_t *s = h->data;
  s->running = 0;
  if (s->closing && s->on_closed) s->on_closed(s->ud);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signal) {
  sound_t *s = p->data;
  if (!s->closing && (status != 0 || signal != 0)) {
    char why[64];
    if (signal)
      snprintf(why, sizeof(why), "killed by signal %d", signal);
    else
      snprintf(why, sizeof(why), "exit status %lld", (long long)status);
    fail_once(s, why);
  }
  uv_close((uv_handle_t *)p, on_proc_closed);
}

void sound_init(sound_t *s, uv_loop_t *loop, const char *cmd, void *ud) {
  memset(s, 0, sizeof(*s));
  s->loop = loop;
  s->cmd = cmd;
  s->ud = ud;
}

int sound_play(sound_t *s) {
  char *argv[] = {"/bin/sh", "-c", (char *)s->cmd, NULL};
  uv_stdio_container_t stdio[3];
  uv_process_options_t o;
  int rc;
  if (!s->cmd || !s->cmd[0] || s->closing) return 1;
  if (s->running) {
    s->dropped++;
    return 1;
  }
  memset(&o, 0, sizeof(o));
  for (int i = 0; i < 3; i++) stdio[i].flags = UV_IGNORE; /* nothing may scribble on the screen */
  o.file = argv[0];
  o.args = argv;
  o.exit_cb = on_exit_cb;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.flags = UV_PROCESS_DETACHED; /* its own process group: ^C at the display does not hit it */
  s->proc.data = s;
  rc = uv_spawn(s->loop, &s->proc, &o);
  if (rc) {
    char why[96];
    snprintf(why, sizeof(why), "cannot start it: %s", uv_strerror(rc));
    fail_once(s, why);
    /* uv_spawn initialised the handle even when it failed: it must be closed */
    s->running = 1;
    uv_close((uv_handle_t *)&s->proc, on_proc_closed);
    return rc;
  }
  s->running = 1;
  s->played++;
  return 0;
}

void sound_close(sound_t *s) {
  if (s->closing) return;
  s->closing = 1;
  if (!s->running) {
    if (s->on_closed) s->on_closed(s->ud);
    return;
  }
  /* still playing: the child is left to finish on its own (a half-played chime is harmless);
   * we stop watching it */
  if (!uv_is_closing((uv_handle_t *)&s->proc)) uv_close((uv_handle_t *)&s->proc, on_proc_closed);
}
