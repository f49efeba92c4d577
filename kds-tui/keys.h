/* keys.h: the keymap. Every action is a request (one X-macro with its name and help text, as
 * tig's request.h), keys map to requests, and the help screen is generated from both. A
 * keymap file (SPEC 10: ~/.config/kds/keys) rebinds keys for programmable bump bars. No
 * curses here beyond the KEY_* constants, so the table is unit-testable. */
#ifndef KDS_TUI_KEYS_H
#define KDS_TUI_KEYS_H

#include <stddef.h>

/* X(NAME, "name in keymap files", "help text") */
#define KDS_REQ_MAP(X)                                                        \
  X(NONE, "none", NULL)                                                       \
  X(LEFT, "left", "select the ticket to the left")                            \
  X(RIGHT, "right", "select the ticket to the right")                         \
  X(UP, "up", "line cursor up (off the ticket's lines from the first)")       \
  X(DOWN, "down", "line cursor down, through the selected ticket's lines")    \
  X(LINE_DONE, "line-done", "mark the line under the cursor done / not done") \
  X(PAGE_NEXT, "page-next", "next page of tickets")                           \
  X(PAGE_PREV, "page-prev", "previous page of tickets")                       \
  X(START, "start", "start the selected ticket (preparing)")                  \
  X(BUMP, "bump", "bump the selected ticket: ready, then completed")          \
  X(BUMP_NTH, "bump-nth", "bump the ticket with that number on screen")       \
  X(RECALL, "recall", "recall the last ticket bumped (on any screen)")        \
  X(RECALL_LIST, "recall-list", "the recall list: pick a bumped ticket")      \
  X(ALLDAY, "all-day", "all-day view: each item's total on open tickets")     \
  X(HELP, "help", "this help")                                                \
  X(BACK, "back", "back to the tickets")                                      \
  X(REDRAW, "redraw", "redraw the screen")                                    \
  X(QUIT, "quit", "quit")

enum request {
#define X(name, cfg, help) REQ_##name,
  KDS_REQ_MAP(X)
#undef X
      REQ__COUNT
};

typedef struct key_binding {
  int key; /* a curses key code (KEY_LEFT) or a character ('q', '\n', ' ') */
  enum request req;
  int arg; /* REQ_BUMP_NTH: which ticket (1-9) */
} key_binding;

#define KEYS_MAX 128

typedef struct keys {
  key_binding b[KEYS_MAX];
  size_t n;
} keys_t;

/* Fills `k` with the default map of SPEC 5 (arrows/hjkl, Space, Enter, 1-9, r, a, ?, q, ...). */
void keys_init(keys_t *k);

/* The request bound to `key` (REQ_NONE if none); `*arg` (may be NULL) gets its argument. */
enum request keys_lookup(const keys_t *k, int key, int *arg);

/* Binds `key` to `req` (replacing an existing binding of that key). Returns 0, KDS_EFULL
 * (KEYS_MAX bindings) or KDS_EINVAL (req out of range). */
int keys_bind(keys_t *k, int key, enum request req, int arg);

/* The request's help text (NULL for REQ_NONE) and its keymap-file name ("bump"). */
const char *keys_request_help(enum request req);
const char *keys_request_name(enum request req);

/* The request called `name` in a keymap file, or -1. */
int keys_request_parse(const char *name);

/* A key's printable name ("Enter", "Space", "Left", "PgDn", "F1", "q", "^L") into
 * out[size]. Returns out. */
const char *keys_key_name(int key, char *out, size_t size);

/* A key from its name as keys_key_name writes it, or a single character; -1 if unknown. */
int keys_key_parse(const char *name);

/* The keys bound to `req` as one label ("Enter, Right"), with runs of consecutive digits
 * bound to REQ_BUMP_NTH shortened ("1-9"). Writes out[size] (truncated) and returns out. */
const char *keys_label(const keys_t *k, enum request req, char *out, size_t size);

/* Reads a keymap file: lines "bind <key> <request> [arg]", '#' comments, blank lines.
 * Unknown keys or requests are errors: `*bad_line` (may be NULL) gets the 1-based line.
 * Returns 0, KDS_EINVAL (a bad line), or a negative errno from fopen (-ENOENT: no file,
 * which callers of the default path ignore). Bindings before a bad line stay applied. */
int keys_load_file(keys_t *k, const char *path, int *bad_line);

#endif
