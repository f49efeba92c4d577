/* Unit tests for kds-tui's screen (ui.c, view_*.c), headless as tig tests its views: curses
 * runs on a pseudo-terminal, keys are written to it, and the screen is read back from curses'
 * own copy and compared with the expected text. Also: text widths. The card layout itself is
 * tested in test_layout.c. */
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <fcntl.h>
#include <locale.h>
#include <pty.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "test.h"

#include "buf.h"
#include "err.h"
#include "keys.h"
#include "model.h"
#include "ui.h"

#define T0 1699000000000LL

static cJSON *order(const char *inv, const char *status, int64_t created_ms, const char *lines,
                    const char *note) {
  char buf[4096], iso[64];
  time_t t = (time_t)(created_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  snprintf(buf, sizeof(buf),
           "{\"invoice_number\":\"%s\",\"status\":\"%s\",\"created_at\":\"%s\",\"updated_at\":\"%s\","
           "\"lines\":%s%s%s%s}",
           inv, status, iso, iso, lines, note ? ",\"note\":\"" : "", note ? note : "", note ? "\"" : "");
  cJSON *j = cJSON_Parse(buf);
  if (!j) abort();
  return j;
}

static void add(model_t *m, const char *inv, const char *status, int64_t created, const char *lines,
                const char *note) {
  cJSON *j = order(inv, status, created, lines, note);
  model_apply(m, "new-order", j, T0, NULL);
  cJSON_Delete(j);
}

static const char *two_lines =
    "[{\"name\":\"Corndog Sosis\",\"category\":\"ISI CORNDOG\",\"qty\":2},"
    "{\"name\":\"Saus Tomat\",\"category\":\"SAUS ASIN\",\"qty\":1}]";

/* ---- text --------------------------------------------------------------------------------- */

static void t_text(void) {
  int used;
  ok(ui_text_width("abc", -1) == 3, "ASCII");
  ok(ui_text_width("caf\xc3\xa9", -1) == 4, "é is one column");
  ok(ui_text_width("\xe7\x8f\x88\xe7\x90\xb2", -1) == 4, "two CJK characters are four columns");
  ok(ui_text_fit("\xe7\x8f\x88\xe7\x90\xb2", 3, &used) == 3 && used == 2, "a wide character is never split");
  ok(ui_text_fit("abcdef", 4, &used) == 4 && used == 4, "fit ASCII");
  ok(ui_text_fit("caf\xc3\xa9!", 4, &used) == 5 && used == 4, "fit counts columns, returns bytes");
  char age[16];
  ok(strcmp(ui_fmt_age(65000, age), "01:05") == 0, "mm:ss");
  ok(strcmp(ui_fmt_age(3725000, age), "1:02:05") == 0, "h:mm:ss past an hour");
  ok(strcmp(ui_fmt_age(-5, age), "00:00") == 0, "never negative");
  char small[6];
  ui_copy(small, sizeof(small), "ab\xc3\xa9\xc3\xa9");
  ok(strcmp(small, "ab\xc3\xa9") == 0, "ui_copy cuts on a character boundary");
}

/* ---- headless screen ------------------------------------------------------------------------ */

typedef struct calls {
  int n_status;
  char invoice[48];
  enum ticket_status from, to;
  int bump;
  int recalls, quits;
  int n_line;
  char line_inv[48];
  int64_t line_n;
  int line_done;
} calls;

static void a_status(void *ud, const char *inv, enum ticket_status from, enum ticket_status to, int bump) {
  calls *c = ud;
  c->n_status++;
  snprintf(c->invoice, sizeof(c->invoice), "%s", inv);
  c->from = from;
  c->to = to;
  c->bump = bump;
}
static void a_line(void *ud, const char *inv, int64_t n, int done) {
  calls *c = ud;
  c->n_line++;
  snprintf(c->line_inv, sizeof(c->line_inv), "%s", inv);
  c->line_n = n;
  c->line_done = done;
}
static void a_recall(void *ud) {
  ((calls *)ud)->recalls++;
}
static void a_quit(void *ud) {
  ((calls *)ud)->quits++;
}
static const ui_actions acts = {
    .set_status = a_status, .line_done = a_line, .recall = a_recall, .quit = a_quit};

static int master_fd = -1;

static void drain(void) {
  char buf[65536];
  while (read(master_fd, buf, sizeof(buf)) > 0) {
  }
}

/* Row y of the physical screen as curses knows it, UTF-8, trailing blanks trimmed. */
static const char *row(int y) {
  static char out[4096];
  wchar_t w[512];
  int n = mvwinnwstr(curscr, y, 0, w, COLS < 511 ? COLS : 511);
  if (n < 0) n = 0;
  w[n] = 0;
  size_t len = wcstombs(out, w, sizeof(out) - 1);
  if (len == (size_t)-1) len = 0;
  out[len] = '\0';
  while (len > 0 && out[len - 1] == ' ') out[--len] = '\0';
  return out;
}

static int screen_has(const char *needle) {
  for (int y = 0; y < LINES; y++)
    if (strstr(row(y), needle)) return 1;
  return 0;
}

/* Both strings on one row. */
static int row_has2(const char *a, const char *b) {
  for (int y = 0; y < LINES; y++)
    if (strstr(row(y), a) && strstr(row(y), b)) return 1;
  return 0;
}

/* Cells of the physical screen drawn with a colour pair. */
static int coloured_cells(void) {
  int n = 0;
  for (int y = 0; y < LINES; y++) {
    for (int x = 0; x < COLS; x++) {
      cchar_t cc;
      wchar_t wch[CCHARW_MAX + 1];
      attr_t at;
      short pair = 0;
      if (mvwin_wch(curscr, y, x, &cc) == OK && getcchar(&cc, wch, &at, &pair, NULL) == OK && pair != 0) n++;
    }
  }
  return n;
}

static void dump(void) {
  for (int y = 0; y < LINES; y++) printf("# |%s\n", row(y));
}

static void press(ui_t *ui, const char *keys) {
  if (write(master_fd, keys, strlen(keys)) < 0) abort();
  usleep(50000); /* the pty delivers */
  ui_input(ui, T0 + 65000);
  ui_draw(ui, T0 + 65000);
  drain();
}

static void t_screen(void) {
  model_t m;
  keys_t k;
  ui_t ui;
  calls c = {0};
  int slave;
  struct winsize ws = {24, 80, 0, 0};
  if (openpty(&master_fd, &slave, NULL, NULL, &ws) != 0) {
    ok(0, "openpty");
    return;
  }
  fcntl(master_fd, F_SETFL, O_NONBLOCK);
  FILE *out = fdopen(dup(slave), "w"), *in = fdopen(slave, "r");
  setenv("TERM", "xterm", 1);

  model_init(&m, NULL);
  keys_init(&k);
  add(&m, "INV-20231103-0001", "new", T0, two_lines, "no onion");
  add(&m, "INV-20231103-0002", "preparing", T0 + 1000,
      "[{\"name\":\"Kopi \xe7\x8f\x88\xe7\x90\xb2\",\"category\":\"MINUMAN\",\"qty\":12}]", NULL);
  add(&m, "INV-20231103-0003", "ready", T0 + 2000, two_lines, NULL);
  model_find(&m, "INV-20231103-0001")->seen_ms = 0;          /* as if loaded at start: no highlight */
  model_find(&m, "INV-20231103-0002")->seen_ms = T0 + 64000; /* arrived a second ago */
  ui_init(&ui, &m, &k, &acts, &c);
  snprintf(ui.server, sizeof(ui.server), "http://kds:3000");
  ui.conn = UI_LIVE;
  ok(ui_start(&ui, 1, out, in) == 0, "curses on a pty");
  ui_draw(&ui, T0 + 65000);
  drain();

  ok(strstr(row(0), " LIVE ") == row(0) && strstr(row(0), "Open 3 (1 new 1 prep 1 ready)") &&
         strstr(row(0), "(here)") && strstr(row(0), " http:"),
     "header: state, counts per status, this screen's figures marked, the server as far as it fits");
  ok(strstr(row(1), "╔") == row(1), "the first card is selected (double border)");
  ok(strstr(row(2), "1 INV-20231103-0001") != NULL, "ticket 1 with its number");
  ok(strstr(row(3), "NEW") && strstr(row(3), "01:05"), "status and age (mm:ss)");
  ok(strstr(row(4), "ISI CORNDOG") && strstr(row(5), "2x Corndog Sosis"), "category, then 2x Corndog Sosis");
  ok(strstr(row(6), "SAUS ASIN") && strstr(row(7), "1x Saus Tomat"), "the next category");
  ok(strstr(row(8), "» no onion") != NULL, "the note");
  ok(screen_has("12x Kopi \xe7\x8f\x88\xe7\x90\xb2"), "UTF-8 and wide names");
  ok(screen_has("PREPARING") && screen_has("READY"), "statuses");
  ok(screen_has("NEW!"), "the ticket that just arrived is marked");
  ok(strstr(row(LINES - 1), "Enter bump") && strstr(row(LINES - 1), "q quit"), "footer keys");
  ok(coloured_cells() > 0, "with colours: coloured cells (so the --no-color check below means something)");
  if (test_failed) dump();

  press(&ui, "\r");
  ok(c.n_status == 1 && strcmp(c.invoice, "INV-20231103-0001") == 0 && c.from == TS_NEW && c.to == TS_READY &&
         c.bump,
     "Enter bumps the selected ticket new -> ready");
  press(&ui, " ");
  ok(c.n_status == 2 && c.to == TS_PREPARING && !c.bump, "Space starts it (preparing, not a bump)");
  press(&ui, "3");
  ok(c.n_status == 3 && strcmp(c.invoice, "INV-20231103-0003") == 0 && c.from == TS_READY &&
         c.to == TS_COMPLETED,
     "3 bumps ticket 3: ready -> completed");
  press(&ui, "l"); /* one ticket per column: l is the next ticket */
  press(&ui, " ");
  ok(c.n_status == 3 && screen_has("INV-20231103-0002 is already preparing"),
     "Space on a preparing ticket: said, not sent");
  press(&ui, "9");
  ok(c.n_status == 3 && screen_has("No ticket 9 on screen"), "9 with three tickets: said");
  press(&ui, "l");
  ok(strstr(row(1), "╔") != NULL && strstr(row(1), "╔") - row(1) > 2 * 26,
     "l moves the selection to the next column (the third)");
  model_set_pending(&m, "INV-20231103-0002", 1);
  press(&ui, "h");
  press(&ui, "\r");
  ok(c.n_status == 3 && screen_has("still waiting for the server"), "no second bump while one is in flight");
  /* just arrived and pending: both marks, the invoice without its INV- to make room */
  ok(row_has2("2 20231103-0002", "… NEW!"), "the pending mark");
  model_set_pending(&m, "INV-20231103-0002", 0);

  /* the line cursor: Down (j) walks the selected ticket's lines, d marks one done */
  press(&ui, "h");
  press(&ui, "d");
  ok(c.n_line == 0 && screen_has("Pick a line first"), "d with no line cursor: said");
  press(&ui, "j");
  ok(screen_has("▶  2x Corndog Sosis"), "j puts the line cursor on the first line");
  press(&ui, "j");
  ok(screen_has("▶  1x Saus Tomat"), "j again: the next line");
  press(&ui, "d");
  ok(c.n_line == 1 && strcmp(c.line_inv, "INV-20231103-0001") == 0 && c.line_n == 2 && c.line_done == 1,
     "d marks that line (2 in the order) done (%d %s %lld %d)", c.n_line, c.line_inv, (long long)c.line_n,
     c.line_done);
  model_find(&m, "INV-20231103-0001")->lines[1].done = 1;
  press(&ui, "d");
  ok(c.n_line == 2 && c.line_n == 2 && c.line_done == 0 && screen_has("▶✓ 1x Saus Tomat"),
     "a done line is marked ✓; d again un-does it");
  press(&ui, "k");
  press(&ui, "k");
  press(&ui, "l");
  press(&ui, "h");
  ok(!screen_has("▶"), "k off the first line, or moving to another ticket, leaves the lines");
  press(&ui, "r");
  ok(c.recalls == 1, "r recalls");
  press(&ui, "a");
  ok(screen_has("ALL DAY: items on 3 open tickets") && screen_has("TO MAKE  READY"), "a: the all-day view");
  press(&ui, "\r");
  ok(c.n_status == 3 && strstr(row(0), "LIVE") && screen_has("Back on the tickets"),
     "a bump key in the all-day view goes back to the tickets first");
  press(&ui, "?");
  ok(screen_has("HELP: keys") && screen_has("bump the selected ticket"), "?: help from the keymap");
  press(&ui, "?");
  ok(screen_has("1 INV-20231103-0001"), "? again: back");

  /* resize to 100x30 and back: the layout follows */
  struct winsize big = {30, 100, 0, 0};
  ioctl(master_fd, TIOCSWINSZ, &big);
  ui_resize(&ui);
  ui_draw(&ui, T0 + 65000);
  drain();
  ok(LINES == 30 && COLS == 100 && strstr(row(29), "q quit"), "resized to 100x30");
  ok(ui_text_width(row(1), -1) == 99 && strstr(row(2), "1 INV-20231103-0001") &&
         strstr(row(2), "3 INV-20231103-0003"),
     "cards 33 columns wide, the three side by side");
  ioctl(master_fd, TIOCSWINSZ, &ws);
  ui_resize(&ui);
  ui_draw(&ui, T0 + 65000);
  drain();
  ok(LINES == 24 && COLS == 80 && strstr(row(23), "q quit"), "back to 80x24");

  press(&ui, "q");
  ok(c.quits == 1, "q quits");
  ui_stop(&ui);
  ui_stop(&ui);
  ok(!ui.active, "stop is idempotent");
  fclose(out);
  fclose(in);
  close(master_fd);
  model_release(&m);
}

/* --no-color: no colour pair anywhere on the screen, and every state still in the text;
 * a station screen's Enter marks its lines done instead of bumping the order. */
static void t_mono_station(void) {
  model_t m;
  keys_t k;
  ui_t ui;
  calls c = {0};
  int slave;
  struct winsize ws = {24, 80, 0, 0};
  if (openpty(&master_fd, &slave, NULL, NULL, &ws) != 0) {
    ok(0, "openpty");
    return;
  }
  fcntl(master_fd, F_SETFL, O_NONBLOCK);
  FILE *out = fdopen(dup(slave), "w"), *in = fdopen(slave, "r");
  setenv("TERM", "xterm-256color", 1);
  model_init(&m, "SAUS ASIN");
  keys_init(&k);
  add(&m, "INV-20231103-0001", "new", T0,
      "[{\"name\":\"Corndog Sosis\",\"category\":\"ISI CORNDOG\",\"qty\":2},"
      "{\"name\":\"Saus Tomat\",\"category\":\"SAUS ASIN\",\"qty\":1,\"done\":true},"
      "{\"name\":\"Mayonaise\",\"category\":\"SAUS ASIN\",\"qty\":1,\"modifiers\":[\"light\"]}]",
      NULL);
  add(&m, "INV-20231103-0002", "new", T0 + 1000, two_lines, NULL);
  model_find(&m, "INV-20231103-0002")->rush = 1; /* the marks (the order is not re-sorted here) */
  model_find(&m, "INV-20231103-0001")->seen_ms = 0;
  model_find(&m, "INV-20231103-0002")->seen_ms = 0;
  ui_init(&ui, &m, &k, &acts, &c);
  ui.conn = UI_LIVE;
  ok(ui_start(&ui, 0, out, in) == 0, "curses on a pty, no colours");
  ui_draw(&ui, T0 + 65000);
  drain();
  int coloured = coloured_cells();
  ok(coloured == 0, "no cell has a colour pair (%d)", coloured);
  ok(screen_has("RUSH") && screen_has(" ✓ 1x Saus Tomat") && screen_has("+ light") && screen_has("NEW "),
     "rush, the done mark, modifiers and the status are text");
  ok(screen_has("(+1 for other stations)") && strstr(row(LINES - 1), "Enter my lines done"),
     "the station screen says what Enter does");
  if (test_failed) dump();
  press(&ui, "\r"); /* on the first ticket, selected */
  ok(c.n_status == 0 && c.n_line == 1 && strcmp(c.line_inv, "INV-20231103-0001") == 0 && c.line_n == 3 &&
         c.line_done == 1,
     "Enter on a station screen: the station's open line (3) done, the order not bumped (%d %d %lld)",
     c.n_status, c.n_line, (long long)c.line_n);
  ui_stop(&ui);
  fclose(out);
  fclose(in);
  close(master_fd);
  model_release(&m);
}

int main(void) {
  setlocale(LC_ALL, "C.UTF-8");
  subtest("text", t_text);
  subtest("screen", t_screen);
  subtest("no colour, station", t_mono_station);
  return done_testing();
}
