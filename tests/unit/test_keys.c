/* Unit tests for kds-tui/keys.c: the default keymap of SPEC 5, labels for the help screen,
 * key names both ways, and keymap files. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#include "err.h"
#include "keys.h"

static void t_defaults(void) {
  keys_t k;
  int arg;
  keys_init(&k);
  ok(keys_lookup(&k, KEY_LEFT, NULL) == REQ_LEFT && keys_lookup(&k, 'h', NULL) == REQ_LEFT,
     "left: arrow and h");
  ok(keys_lookup(&k, KEY_RIGHT, NULL) == REQ_RIGHT && keys_lookup(&k, 'l', NULL) == REQ_RIGHT,
     "right: arrow and l");
  ok(keys_lookup(&k, KEY_UP, NULL) == REQ_UP && keys_lookup(&k, 'k', NULL) == REQ_UP, "up: arrow and k");
  ok(keys_lookup(&k, KEY_DOWN, NULL) == REQ_DOWN && keys_lookup(&k, 'j', NULL) == REQ_DOWN,
     "down: arrow and j");
  ok(keys_lookup(&k, ' ', NULL) == REQ_START, "Space starts");
  ok(keys_lookup(&k, '\n', NULL) == REQ_BUMP && keys_lookup(&k, '\r', NULL) == REQ_BUMP &&
         keys_lookup(&k, KEY_ENTER, NULL) == REQ_BUMP,
     "Enter bumps (LF, CR and keypad Enter)");
  for (int d = 1; d <= 9; d++) {
    ok(keys_lookup(&k, '0' + d, &arg) == REQ_BUMP_NTH && arg == d, "%d bumps ticket %d", d, d);
  }
  ok(keys_lookup(&k, '0', NULL) == REQ_NONE, "0 does nothing");
  ok(keys_lookup(&k, 'r', NULL) == REQ_RECALL, "r recalls");
  ok(keys_lookup(&k, 'a', NULL) == REQ_ALLDAY, "a: all-day");
  ok(keys_lookup(&k, '?', NULL) == REQ_HELP, "? help");
  ok(keys_lookup(&k, 'q', NULL) == REQ_QUIT, "q quits");
  ok(keys_lookup(&k, 'Z', &arg) == REQ_NONE && arg == 0, "unbound key: none");
}

static void t_table(void) {
  for (int r = 1; r < REQ__COUNT; r++) {
    ok(keys_request_help((enum request)r) != NULL && keys_request_name((enum request)r) != NULL,
       "request %d has help and a name", r);
    ok(keys_request_parse(keys_request_name((enum request)r)) == r, "name of %d parses back", r);
  }
  ok(keys_request_help(REQ_NONE) == NULL, "none has no help (hidden)");
  ok(keys_request_help((enum request)999) == NULL, "out of range: NULL");
  ok(keys_request_parse("nope") == -1, "unknown name");
}

static void t_labels(void) {
  keys_t k;
  char buf[64];
  keys_init(&k);
  ok(strcmp(keys_label(&k, REQ_BUMP_NTH, buf, sizeof(buf)), "1-9") == 0, "digits shortened: 1-9");
  ok(strcmp(keys_label(&k, REQ_LEFT, buf, sizeof(buf)), "Left, h") == 0, "Left, h");
  ok(strcmp(keys_label(&k, REQ_BUMP, buf, sizeof(buf)), "Enter, KpEnter") == 0, "Enter once, then KpEnter");
  ok(strcmp(keys_label(&k, REQ_START, buf, sizeof(buf)), "Space") == 0, "Space");
  ok(strcmp(keys_label(&k, REQ_REDRAW, buf, sizeof(buf)), "^L") == 0, "^L");
  ok(strcmp(keys_label(&k, REQ_HELP, buf, sizeof(buf)), "?, F1") == 0, "?, F1");
  keys_label(&k, REQ_LEFT, buf, 5);
  ok(strlen(buf) == 4, "truncated to the buffer");
}

static void t_names(void) {
  char buf[32];
  int keys[] = {'\n', ' ', 27, KEY_LEFT, KEY_NPAGE, KEY_F(5), 'x', 12, 999};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    keys_key_name(keys[i], buf, sizeof(buf));
    ok(keys_key_parse(buf) == keys[i], "key %d <-> \"%s\"", keys[i], buf);
  }
  ok(keys_key_parse("enter") == '\n', "names are case-insensitive");
  ok(keys_key_parse("^a") == 1, "^a");
  ok(keys_key_parse("F25") == -1 && keys_key_parse("") == -1 && keys_key_parse("xy") == -1, "bad names");
}

static void t_file(void) {
  keys_t k;
  char path[] = "/tmp/kds-keys-XXXXXX";
  int bad, fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  keys_init(&k);
  fputs("# bump bar\nbind F1 bump\n\nbind F2 bump-nth 2   # second ticket\nbind x quit\nbind q none\n", f);
  fclose(f);
  ok(keys_load_file(&k, path, &bad) == 0, "file loads");
  ok(keys_lookup(&k, KEY_F(1), NULL) == REQ_BUMP, "F1 now bumps (replacing help)");
  int arg;
  ok(keys_lookup(&k, KEY_F(2), &arg) == REQ_BUMP_NTH && arg == 2, "F2 bumps ticket 2");
  ok(keys_lookup(&k, 'x', NULL) == REQ_QUIT && keys_lookup(&k, 'q', NULL) == REQ_NONE, "x quits, q unbound");

  f = fopen(path, "w");
  fputs("bind F3 start\nbind F4 explode\nbind F5 quit\n", f);
  fclose(f);
  ok(keys_load_file(&k, path, &bad) == KDS_EINVAL && bad == 2, "unknown request: error on line 2");
  ok(keys_lookup(&k, KEY_F(3), NULL) == REQ_START && keys_lookup(&k, KEY_F(5), NULL) == REQ_NONE,
     "lines before the bad one applied, none after");
  f = fopen(path, "w");
  fputs("bind F6 bump-nth 12\n", f);
  fclose(f);
  ok(keys_load_file(&k, path, &bad) == KDS_EINVAL && bad == 1, "bump-nth beyond 9 refused");
  f = fopen(path, "w");
  fputs("unbind q\n", f);
  fclose(f);
  ok(keys_load_file(&k, path, &bad) == KDS_EINVAL && bad == 1, "unknown verb refused");
  unlink(path);
  ok(keys_load_file(&k, path, &bad) < 0 && keys_load_file(&k, path, &bad) != KDS_EINVAL,
     "missing file: errno code");

  keys_init(&k);
  int rc = 0;
  for (int i = 0; i < KEYS_MAX + 5 && rc == 0; i++) rc = keys_bind(&k, 1000 + i, REQ_QUIT, 0);
  ok(rc == KDS_EFULL && k.n == KEYS_MAX, "the keymap is bounded");
  ok(keys_bind(&k, 'q', (enum request)REQ__COUNT, 0) == KDS_EINVAL, "bad request refused");
}

int main(void) {
  subtest("defaults", t_defaults);
  subtest("table", t_table);
  subtest("labels", t_labels);
  subtest("names", t_names);
  subtest("file", t_file);
  return done_testing();
}
