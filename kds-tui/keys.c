/* keys.c: requests, the default keymap, key names and keymap files (see keys.h). */
#include "keys.h"

#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

static const struct {
  const char *name;
  const char *help;
} req_info[] = {
#define X(name, cfg, help) {cfg, help},
    KDS_REQ_MAP(X)
#undef X
};

const char *keys_request_help(enum request req) {
  return (unsigned)req < REQ__COUNT ? req_info[req].help : NULL;
}

const char *keys_request_name(enum request req) {
  return (unsigned)req < REQ__COUNT ? req_info[req].name : NULL;
}

int keys_request_parse(const char *name) {
  for (int i = 0; i < REQ__COUNT; i++)
    if (strcmp(req_info[i].name, name) == 0) return i;
  return -1;
}

#define CTRL_(c) ((c)&0x1f)

void keys_init(keys_t *k) {
  static const key_binding defaults[] = {
      {KEY_LEFT, REQ_LEFT, 0},       {'h', REQ_LEFT, 0},
      {KEY_RIGHT, REQ_RIGHT, 0},     {'l', REQ_RIGHT, 0},
      {KEY_UP, REQ_UP, 0},           {'k', REQ_UP, 0},
      {KEY_DOWN, REQ_DOWN, 0},       {'j', REQ_DOWN, 0},
      {KEY_NPAGE, REQ_PAGE_NEXT, 0}, {'n', REQ_PAGE_NEXT, 0},
      {KEY_PPAGE, REQ_PAGE_PREV, 0}, {'p', REQ_PAGE_PREV, 0},
      {' ', REQ_START, 0},           {'\n', REQ_BUMP, 0},
      {'\r', REQ_BUMP, 0},           {KEY_ENTER, REQ_BUMP, 0},
      {'r', REQ_RECALL, 0},          {'R', REQ_RECALL_LIST, 0},
      {'a', REQ_ALLDAY, 0},          {'?', REQ_HELP, 0},
      {KEY_F(1), REQ_HELP, 0},       {27, REQ_BACK, 0},
      {CTRL_('l'), REQ_REDRAW, 0},   {'q', REQ_QUIT, 0},
      {'d', REQ_LINE_DONE, 0},       {'\t', REQ_DOWN, 0},
  };
  k->n = 0;
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) k->b[k->n++] = defaults[i];
  for (int d = 1; d <= 9; d++) k->b[k->n++] = (key_binding){'0' + d, REQ_BUMP_NTH, d};
}

enum request keys_lookup(const keys_t *k, int key, int *arg) {
  for (size_t i = 0; i < k->n; i++) {
    if (k->b[i].key == key) {
      if (arg) *arg = k->b[i].arg;
      return k->b[i].req;
    }
  }
  if (arg) *arg = 0;
  return REQ_NONE;
}

int keys_bind(keys_t *k, int key, enum request req, int arg) {
  if ((unsigned)req >= REQ__COUNT) return KDS_EINVAL;
  for (size_t i = 0; i < k->n; i++) {
    if (k->b[i].key == key) {
      k->b[i].req = req;
      k->b[i].arg = arg;
      return 0;
    }
  }
  if (k->n == KEYS_MAX) return KDS_EFULL;
  k->b[k->n++] = (key_binding){key, req, arg};
  return 0;
}

static const struct {
  int key;
  const char *name;
} key_names[] = {
    {'\n', "Enter"},    {'\r', "Enter"},     {KEY_ENTER, "KpEnter"},       {' ', "Space"},
    {27, "Esc"},        {'\t', "Tab"},       {KEY_LEFT, "Left"},           {KEY_RIGHT, "Right"},
    {KEY_UP, "Up"},     {KEY_DOWN, "Down"},  {KEY_NPAGE, "PgDn"},          {KEY_PPAGE, "PgUp"},
    {KEY_HOME, "Home"}, {KEY_END, "End"},    {KEY_BACKSPACE, "Backspace"}, {KEY_DC, "Del"},
    {KEY_IC, "Ins"},    {127, "Backspace2"},
};

const char *keys_key_name(int key, char *out, size_t size) {
  for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
    if (key_names[i].key == key) {
      snprintf(out, size, "%s", key_names[i].name);
      return out;
    }
  }
  if (key >= KEY_F(1) && key <= KEY_F(24))
    snprintf(out, size, "F%d", key - KEY_F(0));
  else if (key > 0 && key < 0x20)
    snprintf(out, size, "^%c", key + '@');
  else if (key > 0x20 && key < 0x7f)
    snprintf(out, size, "%c", key);
  else
    snprintf(out, size, "<%d>", key);
  return out;
}

int keys_key_parse(const char *name) {
  if (!name || !*name) return -1;
  for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
    if (strcasecmp(key_names[i].name, name) == 0) return key_names[i].key;
  if (name[1] == '\0' && name[0] > 0x20 && name[0] < 0x7f) return name[0];
  if (name[0] == '^' && name[1] && !name[2]) {
    int c = name[1] >= 'a' && name[1] <= 'z' ? name[1] - 32 : name[1];
    if (c >= '@' && c <= '_') return c - '@';
  }
  if ((name[0] == 'F' || name[0] == 'f') && name[1]) {
    char *end;
    long n = strtol(name + 1, &end, 10);
    if (!*end && n >= 1 && n <= 24) return KEY_F((int)n);
  }
  if (name[0] == '<') { /* "<263>": a raw code, as keys_key_name prints unknown keys */
    char *end;
    long n = strtol(name + 1, &end, 10);
    if (end[0] == '>' && !end[1] && n > 0 && n < 0x10000) return (int)n;
  }
  return -1;
}

const char *keys_label(const keys_t *k, enum request req, char *out, size_t size) {
  size_t o = 0;
  int done[KEYS_MAX] = {0};
  if (size) out[0] = '\0';
  for (size_t i = 0; i < k->n && o + 1 < size; i++) {
    char name[32];
    if (k->b[i].req != req || done[i]) continue;
    done[i] = 1;
    keys_key_name(k->b[i].key, name, sizeof(name));
    if (o && strstr(out, name)) continue; /* Enter for both '\n' and '\r' */
    /* Shorten a run of digit keys (1..9 for bump-nth) to "1-9". */
    int key = k->b[i].key;
    if (key >= '0' && key <= '9') {
      int hi = key;
      for (int more = 1; more;) {
        more = 0;
        for (size_t j = 0; j < k->n; j++) {
          if (!done[j] && k->b[j].req == req && k->b[j].key == hi + 1) {
            done[j] = 1;
            hi++;
            more = 1;
          }
        }
      }
      if (hi > key)
        snprintf(name, sizeof(name), "%c-%c", key, hi);
      else
        keys_key_name(key, name, sizeof(name));
    } else {
      keys_key_name(key, name, sizeof(name));
    }
    int w = snprintf(out + o, size - o, "%s%s", o ? ", " : "", name);
    if (w < 0) break;
    o += (size_t)w < size - o ? (size_t)w : size - o - 1;
  }
  return out;
}

int keys_load_file(keys_t *k, const char *path, int *bad_line) {
  char line[256];
  int lineno = 0;
  FILE *f = fopen(path, "r");
  if (bad_line) *bad_line = 0;
  if (!f) return -errno;
  while (fgets(line, sizeof(line), f)) {
    char *save = NULL, *w0, *w1, *w2, *w3;
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    w0 = strtok_r(line, " \t\r\n", &save);
    if (!w0) continue;
    w1 = strtok_r(NULL, " \t\r\n", &save);
    w2 = strtok_r(NULL, " \t\r\n", &save);
    w3 = strtok_r(NULL, " \t\r\n", &save);
    int key = w1 ? keys_key_parse(w1) : -1;
    int req = w2 ? keys_request_parse(w2) : -1;
    int arg = 0;
    if (w3) {
      char *end;
      long a = strtol(w3, &end, 10);
      if (*end || a < 0 || a > 99) req = -1;
      arg = (int)a;
    }
    if (req == REQ_BUMP_NTH && (arg < 1 || arg > 9)) req = -1;
    if (strcmp(w0, "bind") != 0 || key < 0 || req < 0 || keys_bind(k, key, (enum request)req, arg) != 0) {
      if (bad_line) *bad_line = lineno;
      fclose(f);
      return KDS_EINVAL;
    }
  }
  fclose(f);
  return 0;
}
