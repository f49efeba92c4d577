/* ui.c: curses set-up, the frame (header, body view, status line, footer), key dispatch and
 * the text helpers the views share (see ui.h). */
#define _XOPEN_SOURCE_EXTENDED 1
#include "ui.h"

#include <curses.h>
#include <term.h>
#undef bell /* a terminfo capability macro: ui_t has a field of that name */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"
#include <wchar.h>

#include "err.h"

#define W(p) ((WINDOW *)(p))

/* ---- text ----------------------------------------------------------------------------------- */

/* One character of s (n bytes left): its byte length (>= 1) and display width (>= 0). */
static size_t char_at(const char *s, size_t n, int *width) {
  mbstate_t st;
  wchar_t wc;
  size_t len;
  memset(&st, 0, sizeof(st));
  len = mbrtowc(&wc, s, n, &st);
  if (len == (size_t)-1 || len == (size_t)-2 || len == 0) {
    /* undecodable here (a non-UTF-8 locale): one cell, but the whole UTF-8 sequence, so that
     * a cut never splits a character (the model keeps only valid UTF-8) */
    uint32_t cp;
    int valid;
    *width = 1;
    return n ? utf8_decode((const unsigned char *)s, n, &cp, &valid) : 1;
  }
  int w = wcwidth(wc);
  *width = w < 0 ? 1 : w;
  return len;
}

int ui_text_width(const char *s, int maxbytes) {
  size_t n = maxbytes < 0 ? strlen(s) : strnlen(s, (size_t)maxbytes);
  int cols = 0, w;
  for (size_t i = 0; i < n;) {
    i += char_at(s + i, n - i, &w);
    cols += w;
  }
  return cols;
}

size_t ui_text_fit(const char *s, int cols, int *used) {
  size_t n = strlen(s), i = 0;
  int c = 0, w;
  while (i < n) {
    size_t len = char_at(s + i, n - i, &w);
    if (c + w > cols) break;
    c += w;
    i += len;
  }
  if (used) *used = c;
  return i;
}

int ui_put(void *win, int y, int x, const char *s, int cols, unsigned long attr) {
  int used;
  size_t bytes;
  if (cols <= 0 || !s) return 0;
  bytes = ui_text_fit(s, cols, &used);
  if (bytes == 0) return 0;
  wattron(W(win), (int)attr);
  mvwaddnstr(W(win), y, x, s, (int)bytes);
  wattroff(W(win), (int)attr);
  return used;
}

void ui_copy(char *dst, size_t size, const char *src) {
  size_t n = strlen(src);
  if (size == 0) return;
  if (n >= size) {
    n = size - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80) n--; /* not inside a character */
  }
  memcpy(dst, src, n);
  dst[n] = '\0';
}

const char *ui_fmt_age(int64_t ms, char out[16]) {
  int64_t s = ms < 0 ? 0 : ms / 1000;
  if (s >= 3600)
    snprintf(out, 16, "%d:%02d:%02d", (int)(s / 3600 % 1000), (int)(s / 60 % 60), (int)(s % 60));
  else
    snprintf(out, 16, "%02d:%02d", (int)(s / 60), (int)(s % 60));
  return out;
}

/* ---- colours ------------------------------------------------------------------------------ */

unsigned long ui_color(const ui_t *ui, enum ui_color c) {
  if (!ui->color || c == UC_NONE || c >= UC__COUNT) return 0;
  return (unsigned long)COLOR_PAIR(c);
}

static void colors_init(ui_t *ui) {
  static const short pairs[UC__COUNT][2] = {
      [UC_ST_NEW] = {COLOR_WHITE, COLOR_BLUE},
      [UC_ST_PREPARING] = {COLOR_BLACK, COLOR_CYAN},
      [UC_ST_READY] = {COLOR_BLACK, COLOR_GREEN},
      [UC_AGE_WARN] = {COLOR_BLACK, COLOR_YELLOW},
      [UC_AGE_LATE] = {COLOR_WHITE, COLOR_RED},
      [UC_CATEGORY] = {COLOR_CYAN, -1},
      [UC_LIVE] = {COLOR_BLACK, COLOR_GREEN},
      [UC_WAIT] = {COLOR_BLACK, COLOR_YELLOW},
      [UC_DOWN] = {COLOR_WHITE, COLOR_RED},
      [UC_ERROR] = {COLOR_WHITE, COLOR_RED},
      [UC_OK] = {COLOR_GREEN, -1},
      [UC_HEADER] = {COLOR_WHITE, COLOR_BLACK},
      [UC_HILITE] = {COLOR_BLACK, COLOR_WHITE},
      [UC_NOTE] = {COLOR_YELLOW, -1},
  };
  if (!ui->color || !has_colors()) {
    ui->color = 0;
    return;
  }
  start_color();
  use_default_colors();
  for (int i = 1; i < UC__COUNT; i++) init_pair((short)i, pairs[i][0], pairs[i][1]);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int ui_init(ui_t *ui, model_t *model, keys_t *keys, const ui_actions *act, void *ud) {
  memset(ui, 0, sizeof(*ui));
  ui->model = model;
  ui->keys = keys;
  ui->act = act;
  ui->ud = ud;
  ui->view = &view_tickets_ops;
  ui->bell = 1;
  return 0;
}

static void windows_free(ui_t *ui) {
  if (ui->hdr) delwin(W(ui->hdr));
  if (ui->body) delwin(W(ui->body));
  if (ui->foot) delwin(W(ui->foot));
  ui->hdr = ui->body = ui->foot = NULL;
}

/* Header: 1 row; footer: status line + keys; the body gets the rest (at least 1 row). */
static void windows_make(ui_t *ui) {
  int rows = LINES, cols = COLS;
  windows_free(ui);
  if (rows < 4) rows = 4;
  if (cols < 1) cols = 1;
  ui->rows = rows;
  ui->cols = cols;
  ui->hdr = newwin(1, cols, 0, 0);
  ui->body = newwin(rows - 3, cols, 1, 0);
  ui->foot = newwin(2, cols, rows - 2, 0);
}

int ui_start(ui_t *ui, int color, FILE *out, FILE *in) {
  SCREEN *scr;
  if (ui->active) return 0;
  if (!out || !in || !isatty(fileno(in)) || !isatty(fileno(out))) return KDS_EINVAL;
  ui->tty_fd = fileno(out);
  /* Ask terminfo first: newterm's own failure path leaks, setupterm's does not. */
  int terr = 0;
  if (setupterm(NULL, ui->tty_fd, &terr) != OK) return KDS_EINVAL;
  del_curterm(cur_term);
  scr = newterm(NULL, out, in);
  if (!scr) return KDS_EINVAL;
  set_term(scr);
  ui->screen = scr;
  ui->active = 1;
  ui->color = color;
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  set_escdelay(25);
  curs_set(0);
  colors_init(ui);
  /* stdscr stays blank and untouched, so getch() never repaints it over our windows. */
  refresh();
  windows_make(ui);
  return 0;
}

void ui_stop(ui_t *ui) {
  if (!ui->active) return;
  windows_free(ui);
  endwin();
  delscreen((SCREEN *)ui->screen);
  ui->screen = NULL;
  ui->active = 0;
}

void ui_resize(ui_t *ui) {
  struct winsize ws;
  if (!ui->active) return;
  if (ioctl(ui->tty_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
    resizeterm(ws.ws_row, ws.ws_col);
  windows_make(ui);
  clearok(curscr, TRUE); /* repaint everything: no leftovers of the old size */
}

/* ---- messages ----------------------------------------------------------------------------- */

void ui_message(ui_t *ui, enum ui_msg_level level, int64_t now_ms, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ui->msg, sizeof(ui->msg), fmt, ap);
  va_end(ap);
  /* Control characters could come from server text: the status line shows them as spaces. */
  for (char *p = ui->msg; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
  ui->msg_level = level;
  /* A failure stays up until something else is said (and at least a minute): it must be seen. */
  ui->msg_until_ms = now_ms + (level == UI_ERROR ? 60000 : 5000);
}

void ui_ring(ui_t *ui) {
  if (ui->bell) ui->bell_due = 1;
}

/* ---- requests ----------------------------------------------------------------------------- */

void ui_request(ui_t *ui, enum request req, int arg, int64_t now_ms) {
  if (req == REQ_NONE) return;
  if (ui->view->request && ui->view->request(ui, req, arg, now_ms)) return;
  switch (req) {
    case REQ_QUIT:
      if (ui->act && ui->act->quit) ui->act->quit(ui->ud);
      break;
    case REQ_HELP:
      if (ui->view == &view_help_ops) {
        ui->view = ui->back ? ui->back : &view_tickets_ops;
      } else {
        ui->back = ui->view;
        ui->help_top = 0;
        ui->view = &view_help_ops;
      }
      break;
    case REQ_ALLDAY:
      ui->view = ui->view == &view_allday_ops ? &view_tickets_ops : &view_allday_ops;
      ui->allday_top = 0;
      break;
    case REQ_BACK:
      ui->view = &view_tickets_ops;
      break;
    case REQ_REDRAW:
      if (ui->active) clearok(curscr, TRUE);
      break;
    case REQ_RECALL:
      if (ui->act && ui->act->recall) ui->act->recall(ui->ud);
      break;
    case REQ_RECALL_LIST:
      if (ui->view == &view_recall_ops) {
        ui->view = &view_tickets_ops;
      } else if (ui->act && ui->act->recall_list) {
        ui->nrecall = ui->recall_sel = 0;
        ui->recall_loading = 1;
        ui->view = &view_recall_ops;
        ui->act->recall_list(ui->ud);
      }
      break;
    case REQ_START:
    case REQ_BUMP:
    case REQ_BUMP_NTH:
      /* Only the tickets view can bump: go there first, so the bump is seen. */
      ui->view = &view_tickets_ops;
      ui_message(ui, UI_INFO, now_ms, "Back on the tickets: press the key again to bump");
      break;
    default:
      break;
  }
}

void ui_input(ui_t *ui, int64_t now_ms) {
  int ch;
  if (!ui->active) return;
  /* a request may end curses (quit): stop reading as soon as it does */
  while (ui->active && (ch = getch()) != ERR) {
    int arg;
    if (ch == KEY_RESIZE) {
      /* resizeterm (from ui_resize) queues this; the size is already taken: do not resize
       * again, which would queue another one, and so forever */
      if (LINES != ui->rows || COLS != ui->cols) windows_make(ui);
      continue;
    }
    enum request req = keys_lookup(ui->keys, ch, &arg);
    ui_request(ui, req, arg, now_ms);
  }
}

/* ---- the frame ---------------------------------------------------------------------------- */

static void draw_header(ui_t *ui, int64_t now_ms) {
  WINDOW *w = W(ui->hdr);
  char state[64], stats[128], clock[16], age[16];
  enum ui_color sc;
  int cols = ui->cols, x = 0;
  time_t t = (time_t)(now_ms / 1000);
  struct tm tm;
  size_t navg;

  werase(w);
  wbkgdset(w, (chtype)(' ' | ui_color(ui, UC_HEADER) | A_REVERSE * !ui->color));
  wclrtoeol(w);
  switch (ui->conn) {
    case UI_LIVE:
      /* live-only: events arrive but the open orders could not be listed */
      snprintf(state, sizeof(state), ui->live_only ? " LIVE ONLY " : " LIVE ");
      sc = ui->live_only ? UC_WAIT : UC_LIVE;
      break;
    case UI_CONNECTING:
      snprintf(state, sizeof(state), " CONNECTING "), sc = UC_WAIT;
      break;
    case UI_LOADING:
      snprintf(state, sizeof(state), " LOADING "), sc = UC_WAIT;
      break;
    case UI_RECONNECTING: {
      int64_t left = ui->retry_at_ms - now_ms;
      if (left < 0) left = 0;
      if (left <= 0)
        snprintf(state, sizeof(state), " RECONNECTING… "); /* an attempt under way */
      else
        snprintf(state, sizeof(state), " RECONNECTING in %ds ", (int)((left + 999) / 1000));
      sc = UC_WAIT;
      break;
    }
    default:
      snprintf(state, sizeof(state), " OFFLINE "), sc = UC_DOWN;
      break;
  }
  x += ui_put(w, 0, x, state, cols - x, ui_color(ui, sc) | A_BOLD);

  {
    size_t n[3] = {0, 0, 0};
    for (size_t i = 0; i < ui->model->nvis; i++)
      if (ui->model->vis[i]->status <= TS_READY) n[ui->model->vis[i]->status]++;
    snprintf(stats, sizeof(stats), " Open %zu (%zu new %zu prep %zu ready) ", ui->model->nvis, n[0], n[1],
             n[2]);
    x += ui_put(w, 0, x, stats, cols - x, A_BOLD);
  }
  if (ui->stats.have) {
    /* the server's figures of the day: the same on every screen of the outlet */
    char p90[16];
    if (ui->stats.avg_s >= 0) {
      ui_fmt_age((int64_t)(ui->stats.avg_s * 1000), age);
      ui_fmt_age((int64_t)(ui->stats.p90_s * 1000), p90);
    } else {
      snprintf(age, sizeof(age), "--:--");
      snprintf(p90, sizeof(p90), "--:--");
    }
    if (cols >= 100)
      snprintf(stats, sizeof(stats), " Today avg %s p90 %s late %ld ", age, p90, ui->stats.late);
    else /* 80 columns: the p90 makes room for the clock */
      snprintf(stats, sizeof(stats), " Today avg %s late %ld ", age, ui->stats.late);
  } else {
    /* no stats from the server (not ours, or not yet): what this screen saw, marked so */
    int64_t avg = model_avg_ticket_secs(ui->model, now_ms, &navg);
    size_t late = model_late_count(ui->model, now_ms);
    if (avg >= 0)
      ui_fmt_age(avg * 1000, age);
    else
      snprintf(age, sizeof(age), "--:--");
    snprintf(stats, sizeof(stats), " Late %zu  Avg %s (here) ", late, age);
  }
  x += ui_put(w, 0, x, stats, cols - x, A_BOLD);

  localtime_r(&t, &tm);
  strftime(clock, sizeof(clock), " %H:%M:%S ", &tm);
  int cw = ui_text_width(clock, -1);
  char where[200];
  snprintf(where, sizeof(where), " %s%s%s%s", ui->server, ui->station[0] ? " [" : "", ui->station,
           ui->station[0] ? "]" : "");
  if (ui->conn_detail[0] && ui->conn != UI_LIVE)
    snprintf(where + strlen(where), sizeof(where) - strlen(where), " - %s", ui->conn_detail);
  ui_put(w, 0, x, where, cols - x - cw, 0);
  if (cols - cw >= x) ui_put(w, 0, cols - cw, clock, cw, A_BOLD);
  wnoutrefresh(w);
}

static void draw_footer(ui_t *ui, int64_t now_ms) {
  WINDOW *w = W(ui->foot);
  char line[512], label[64], pg[32] = "";
  /* In order of importance: what does not fit is left out (the help screen has it all). */
  static const struct {
    enum request req;
    const char *what;
  } hints[] = {{REQ_BUMP, "bump"},           {REQ_START, "start"},    {REQ_BUMP_NTH, "bump#"},
               {REQ_RECALL, "recall"},       {REQ_ALLDAY, "all-day"}, {REQ_HELP, "help"},
               {REQ_QUIT, "quit"},           {REQ_RIGHT, "ticket"},   {REQ_DOWN, "line"},
               {REQ_LINE_DONE, "line done"}, {REQ_PAGE_NEXT, "page"}};
  size_t o = 0;
  int pw = 0;
  werase(w);
  if (ui->msg[0] && now_ms < ui->msg_until_ms) {
    unsigned long a = ui->msg_level == UI_ERROR
                          ? (ui_color(ui, UC_ERROR) | A_BOLD | (ui->color ? 0 : A_REVERSE))
                      : ui->msg_level == UI_OK ? ui_color(ui, UC_OK) | A_BOLD
                                               : 0;
    const char *mark = ui->msg_level == UI_ERROR ? "✗ " : ui->msg_level == UI_OK ? "✓ " : "";
    char m[300];
    snprintf(m, sizeof(m), "%s%s", mark, ui->msg);
    if (ui->msg_level == UI_ERROR) mvwhline(w, 0, 0, ' ' | (chtype)a, ui->cols);
    ui_put(w, 0, 0, m, ui->cols, a);
  }
  if (ui->view == &view_tickets_ops && ui->page_count > 1) {
    snprintf(pg, sizeof(pg), " Pg %zu/%zu", ui->page_no + 1, ui->page_count);
    pw = ui_text_width(pg, -1);
  }
  mvwhline(w, 1, 0, ' ' | A_REVERSE, ui->cols);
  int x = 0;
  for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
    char key[64], what[64];
    if (hints[i].req == REQ_RIGHT) {
      snprintf(key, sizeof(key), "←→");
    } else if (hints[i].req == REQ_DOWN) {
      snprintf(key, sizeof(key), "↑↓");
    } else {
      keys_label(ui->keys, hints[i].req, label, sizeof(label));
      char *comma = strchr(label, ',');
      if (comma) *comma = '\0';
      if (!label[0]) continue;
      snprintf(key, sizeof(key), "%s", label);
    }
    snprintf(what, sizeof(what), " %s",
             hints[i].req == REQ_BUMP && ui->model->nstations && !ui->expo ? "my lines done" : hints[i].what);
    int need = (x ? 2 : 1) + ui_text_width(key, -1) + ui_text_width(what, -1);
    if (x + need > ui->cols - pw) break;
    x += x ? 2 : 1;
    x += ui_put(w, 1, x, key, ui->cols - x, A_REVERSE | A_BOLD);
    x += ui_put(w, 1, x, what, ui->cols - x, A_REVERSE);
  }
  (void)line;
  (void)o;
  if (pw && ui->cols > pw) ui_put(w, 1, ui->cols - pw, pg, pw, A_REVERSE | A_BOLD);
  wnoutrefresh(w);
}

void ui_draw(ui_t *ui, int64_t now_ms) {
  if (!ui->active) return;
  if (ui->rows != LINES || ui->cols != COLS) windows_make(ui);
  wnoutrefresh(stdscr);
  draw_header(ui, now_ms);
  werase(W(ui->body));
  ui->view->draw(ui, ui->body, now_ms);
  wnoutrefresh(W(ui->body));
  draw_footer(ui, now_ms);
  doupdate();
  if (ui->bell_due) {
    ui->bell_due = 0;
    beep();
  }
}
