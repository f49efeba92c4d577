/* sound.h: --sound CMD (SPEC 5.1): a command run for each new ticket and each cancel, beside
 * the terminal bell (a kitchen is loud; a speaker helps). The command runs with sh -c, its
 * output discarded, never blocking the loop. While one still plays, another request is
 * dropped: a burst of fifty orders makes one sound, not fifty overlapping ones. A failure
 * (the command cannot start, or exits non-zero) is reported once through `on_fail`. */
#ifndef KDS_TUI_SOUND_H
#define KDS_TUI_SOUND_H

#include <uv.h>

typedef struct sound {
  uv_loop_t *loop;
  const char *cmd; /* not owned; "" or NULL: no sound */
  uv_process_t proc;
  int running; /* proc is a live child (its handle is closed from the exit callback) */
  int closing; /* sound_close was called: the exit callback finishes */
  int failed;  /* a failure was reported: not again */
  unsigned long played, dropped;
  void (*on_fail)(void *ud, const char *why);
  void (*on_closed)(void *ud); /* after sound_close, once no handle is left */
  void *ud;
} sound_t;

/* Sets up `s` for `cmd` (may be NULL). Nothing runs until sound_play. */
void sound_init(sound_t *s, uv_loop_t *loop, const char *cmd, void *ud);

/* Plays once (starts the command) unless one is still playing. Returns 0 when started,
 * 1 when dropped or when there is no command, or a libuv error (reported through on_fail
 * the first time). */
int sound_play(sound_t *s);

/* Stops: a playing command is left to finish on its own (not killed: a half-played chime is
 * harmless; we stop watching it), and on_closed runs once no handle of ours is open
 * (possibly from inside this call). */
void sound_close(sound_t *s);

#endif
