/* view_tickets.c: the main view: tickets as cards flowing down columns, oldest first, with
 * selection, paging and the bump keys. */
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"

#define W(p) ((WINDOW *)(p))
#define MAX_WRAP 4 /* rows one item name or note may take */

/* ---- content rows --------------------------------------------------------------------------- */

/* Bytes of s to put on one row of `cols` columns, breaking after a space when it can;
 * `*skip` gets the bytes to skip after them (the space). */
static size_t wrap_take(const char *s, int cols, size_t *skip) {
  size_t fit = ui_text_fit(s, cols, NULL), len = strlen(s);
  *skip = 0;
  if (fit == 0 && len) {
    /* not even one character fits: take one anyway so the caller makes progress */
    fit = 1;
    while (fit < len && ((unsigned char)s[fit] & 0xc0) == 0x80) fit++;
    return fit;
  }
  if (fit >= len) return len;
  for (size_t i = fit; i > 0; i--) {
    if (s[i] == ' ') {
      *skip = 1;
      return i;
    }
  }
  return fit;
}

/* How a card's content is produced: one pass counts (win NULL), one draws. Rows past `max`
 * are counted, not drawn. */
typedef struct cardctx {
  ui_t *ui;
  WINDOW *win;
  int x, y; /* top-left of the content area */
  int w;    /* content width */
  int max;  /* rows that may be drawn */
  int row;  /* rows produced so far */
  int64_t now_ms;
} cardctx;

static void put_row(cardctx *c, const char *prefix, const char *text, unsigned long attr, int fill) {
  if (c->win && c->row < c->max) {
    int x = 0;
    if (fill) mvwhline(c->win, c->y + c->row, c->x, ' ' | (chtype)attr, c->w);
    if (prefix) x += ui_put(c->win, c->y + c->row, c->x, prefix, c->w, attr);
    ui_put(c->win, c->y + c->row, c->x + x, text, c->w - x, attr);
  }
  c->row++;
}

/* Text wrapped under a prefix (first row) and an indent of the same width (the others). */
static void put_wrapped(cardctx *c, const char *prefix, const char *text, unsigned long attr) {
  int pw = ui_text_width(prefix, -1);
  int avail = c->w - pw;
  char indent[32];
  const char *s = text;
  snprintf(indent, sizeof(indent), "%*s", pw < 30 ? pw : 30, "");
  if (avail < 4) { /* no room to wrap under a prefix: one cut row */
    put_row(c, prefix, text, attr, 0);
    return;
  }
  for (int n = 0; *s; n++) {
    size_t skip, take = wrap_take(s, avail, &skip);
    char row[MODEL_MAX_TEXT + 8];
    if (n == MAX_WRAP - 1 && s[take + skip]) {
      /* the last row allowed: cut with an ellipsis */
      size_t t2 = ui_text_fit(s, avail - 1, NULL);
      snprintf(row, sizeof(row), "%.*s…", (int)t2, s);
      put_row(c, n ? indent : prefix, row, attr, 0);
      return;
    }
    snprintf(row, sizeof(row), "%.*s", (int)take, s);
    put_row(c, n ? indent : prefix, row, attr, 0);
    s += take + skip;
  }
}

static enum ui_color status_color(enum ticket_status s) {
  return s == TS_PREPARING ? UC_ST_PREPARING : s == TS_READY ? UC_ST_READY : UC_ST_NEW;
}

/* Produces the content of ticket t (`number` 1-9 on screen, 0 none). */
static void card_content(cardctx *c, const model_t *m, const ticket_t *t, int number) {
  char buf[128], age[16];
  ui_t *ui = c->ui;
  int64_t now = c->now_ms;
  int hot = t->seen_ms > 0 && now - t->seen_ms < UI_HIGHLIGHT_MS;
  int level = model_age_level(m, t, now);

  /* Row 1: number, invoice, and the marks; the invoice loses its "INV-" if space is short. */
  {
    const char *inv = t->invoice;
    const char *mark = t->pending ? " …" : hot ? " NEW!" : t->rush ? " RUSH" : "";
    char num[4] = "";
    if (number) snprintf(num, sizeof(num), "%d ", number);
    if (ui_text_width(num, -1) + (int)strlen(inv) + ui_text_width(mark, -1) > c->w &&
        strncmp(inv, "INV-", 4) == 0)
      inv += 4;
    snprintf(buf, sizeof(buf), "%s%s", num, inv);
    unsigned long a = (ui->color ? ui_color(ui, status_color(t->status)) : A_REVERSE) | A_BOLD;
    if (c->win && c->row < c->max) {
      mvwhline(c->win, c->y + c->row, c->x, ' ' | (chtype)a, c->w);
      ui_put(c->win, c->y + c->row, c->x, buf, c->w, a);
      int mw = ui_text_width(mark, -1);
      if (mw && c->w > mw) ui_put(c->win, c->y + c->row, c->x + c->w - mw, mark, mw, a | (hot ? A_BLINK : 0));
    }
    c->row++;
  }
  /* Row 2: status and age; late is said in words too (colour is never the only signal). */
  {
    const char *lm = level == 2 ? "LATE " : level == 1 ? "! " : "";
    ui_fmt_age(model_age_ms(m, t, now), age);
    unsigned long a = level == 2   ? (ui->color ? ui_color(ui, UC_AGE_LATE) : A_REVERSE) | A_BOLD
                      : level == 1 ? (ui->color ? ui_color(ui, UC_AGE_WARN) : 0) | A_BOLD
                                   : A_BOLD;
    if (c->win && c->row < c->max) {
      mvwhline(c->win, c->y + c->row, c->x, ' ' | (chtype)a, c->w);
      ui_put(c->win, c->y + c->row, c->x, model_status_label(t->status), c->w, a);
      snprintf(buf, sizeof(buf), "%s%s", lm, age);
      int aw = ui_text_width(buf, -1);
      if (c->w > aw + 1) ui_put(c->win, c->y + c->row, c->x + c->w - aw, buf, aw, a);
    }
    c->row++;
  }
  if (t->context) put_row(c, NULL, t->context, A_BOLD, 0);

  const char *cat = NULL;
  size_t hidden = 0;
  for (size_t i = 0; i < t->nlines; i++) {
    const model_line *l = &t->lines[i];
    if (!l->visible) {
      hidden++;
      continue;
    }
    if (l->category && (!cat || strcmp(cat, l->category) != 0)) {
      put_row(c, NULL, l->category, ui_color(ui, UC_CATEGORY) | A_UNDERLINE, 0);
      cat = l->category;
    }
    char q[24];
    if (l->qty > 0)
      snprintf(q, sizeof(q), "%s%dx ", l->done ? "✓" : " ", l->qty);
    else
      snprintf(q, sizeof(q), "%s • ", l->done ? "✓" : " ");
    put_wrapped(c, q, l->name, l->done ? A_DIM : A_BOLD);
    if (l->note) put_wrapped(c, "    ↳ ", l->note, ui_color(ui, UC_NOTE));
  }
  if (hidden) {
    snprintf(buf, sizeof(buf), "(+%zu for other stations)", hidden);
    put_row(c, NULL, buf, A_DIM, 0);
  }
  if (t->note) put_wrapped(c, "» ", t->note, ui_color(ui, UC_NOTE) | A_BOLD);
}

int view_tickets_card_rows(const ticket_t *t, int inner_w) {
  /* Counting needs no model beyond the ticket: the age level does not change the row count. */
  static const model_t none;
  ui_t ui;
  cardctx c = {0};
  memset(&ui, 0, sizeof(ui));
  c.ui = &ui;
  c.w = inner_w;
  card_content(&c, &none, t, 1);
  return c.row;
}

/* ---- layout --------------------------------------------------------------------------------- */

size_t view_tickets_layout(const model_t *m, size_t first, int rows, int cols, ui_card *out, size_t max) {
  int ncols, colw, col = 0, y = 0;
  size_t n = 0;
  if (rows < 5 || cols < 8) return 0;
  ncols = cols / UI_CARD_MIN_W;
  if (ncols < 1) ncols = 1;
  colw = cols / ncols;
  for (size_t i = first; i < m->nvis && n < max; i++) {
    int need = view_tickets_card_rows(m->vis[i], colw - 2) + 2;
    int h = need <= rows ? need : rows;
    if (y > 0 && y + need > rows) {
      if (++col >= ncols) break;
      y = 0;
    }
    if (out) {
      ui_card *c = &out[n];
      c->idx = i;
      c->x = col * colw;
      c->y = y;
      c->w = colw;
      c->h = h;
      c->cut = need <= rows ? 0 : need - rows + 1; /* +1: the "+N more" row */
    }
    n++;
    y += h;
    if (y >= rows) {
      if (++col >= ncols) break;
      y = 0;
    }
  }
  return n;
}

#define MAX_CARDS 512

/* Index of the first ticket of each page, into starts[max]; returns the page count. */
static size_t page_starts(const model_t *m, int rows, int cols, size_t *starts, size_t max) {
  size_t np = 0, first = 0;
  if (m->nvis == 0) {
    starts[0] = 0;
    return 1;
  }
  while (first < m->nvis && np < max) {
    size_t n = view_tickets_layout(m, first, rows, cols, NULL, MAX_CARDS);
    starts[np++] = first;
    if (n == 0) break;
    first += n;
  }
  return np;
}

/* Resolves the selection (by invoice; by position when that ticket is gone) and the page. */
static void resolve(ui_t *ui, int rows, int cols, size_t *starts, size_t *npages) {
  model_t *m = ui->model;
  size_t idx = ui->sel_idx;
  int found = 0;
  if (ui->sel[0]) {
    for (size_t i = 0; i < m->nvis; i++) {
      if (strcmp(m->vis[i]->invoice, ui->sel) == 0) {
        idx = i;
        found = 1;
        break;
      }
    }
  }
  if (m->nvis == 0) {
    ui->sel[0] = '\0';
    ui->sel_idx = 0;
  } else {
    if (!found && idx >= m->nvis) idx = m->nvis - 1;
    ui->sel_idx = idx;
    snprintf(ui->sel, sizeof(ui->sel), "%s", m->vis[idx]->invoice);
  }
  *npages = page_starts(m, rows, cols, starts, 4096);
  ui->page_no = 0;
  for (size_t p = 0; p < *npages; p++)
    if (starts[p] <= ui->sel_idx) ui->page_no = p;
  ui->page_first = starts[ui->page_no];
  ui->page_count = *npages;
}

static void body_size(ui_t *ui, int *rows, int *cols) {
  if (ui->body) {
    getmaxyx(W(ui->body), *rows, *cols);
  } else {
    *rows = 20;
    *cols = 80;
  }
}

static void select_idx(ui_t *ui, size_t idx) {
  if (idx >= ui->model->nvis) return;
  ui->sel_idx = idx;
  snprintf(ui->sel, sizeof(ui->sel), "%s", ui->model->vis[idx]->invoice);
}

/* ---- drawing -------------------------------------------------------------------------------- */

static void draw_box(WINDOW *w, const ui_card *c, int selected, unsigned long attr) {
  int x0 = c->x, y0 = c->y, x1 = c->x + c->w - 1, y1 = c->y + c->h - 1;
  const cchar_t *hl = selected ? WACS_D_HLINE : WACS_HLINE, *vl = selected ? WACS_D_VLINE : WACS_VLINE;
  wattron(w, (int)attr);
  mvwhline_set(w, y0, x0 + 1, hl, c->w - 2);
  mvwhline_set(w, y1, x0 + 1, hl, c->w - 2);
  mvwvline_set(w, y0 + 1, x0, vl, c->h - 2);
  mvwvline_set(w, y0 + 1, x1, vl, c->h - 2);
  mvwadd_wch(w, y0, x0, selected ? WACS_D_ULCORNER : WACS_ULCORNER);
  mvwadd_wch(w, y0, x1, selected ? WACS_D_URCORNER : WACS_URCORNER);
  mvwadd_wch(w, y1, x0, selected ? WACS_D_LLCORNER : WACS_LLCORNER);
  mvwadd_wch(w, y1, x1, selected ? WACS_D_LRCORNER : WACS_LRCORNER);
  wattroff(w, (int)attr);
}

static void tickets_draw(ui_t *ui, void *vwin, int64_t now_ms) {
  WINDOW *w = W(vwin);
  model_t *m = ui->model;
  int rows, cols;
  size_t starts[4096], npages;
  ui_card cards[MAX_CARDS];
  getmaxyx(w, rows, cols);
  resolve(ui, rows, cols, starts, &npages);
  ui->nshown = 0;
  if (m->nvis == 0) {
    const char *s = m->n ? "No tickets for this station" : "No open tickets";
    int sw = ui_text_width(s, -1);
    ui_put(w, rows / 2, cols > sw ? (cols - sw) / 2 : 0, s, cols, A_BOLD);
    return;
  }
  size_t n = view_tickets_layout(m, ui->page_first, rows, cols, cards, MAX_CARDS);
  if (n == 0) {
    ui_put(w, 0, 0, "Terminal too small", cols, A_BOLD);
    return;
  }
  for (size_t k = 0; k < n; k++) {
    const ui_card *c = &cards[k];
    const ticket_t *t = m->vis[c->idx];
    int number = k < 9 ? (int)k + 1 : 0;
    int selected = c->idx == ui->sel_idx;
    int hot = t->seen_ms > 0 && now_ms - t->seen_ms < UI_HIGHLIGHT_MS;
    if (number) {
      snprintf(ui->shown[k], sizeof(ui->shown[k]), "%s", t->invoice);
      ui->nshown = k + 1;
    }
    unsigned long battr = hot ? (ui_color(ui, UC_HILITE) | A_REVERSE | A_BOLD) : selected ? A_BOLD : 0;
    draw_box(w, c, selected, battr);
    cardctx cc = {ui, w, c->x + 1, c->y + 1, c->w - 2, c->h - 2 - (c->cut ? 1 : 0), 0, now_ms};
    card_content(&cc, m, t, number);
    if (c->cut) {
      char more[48];
      snprintf(more, sizeof(more), "… +%d more rows", c->cut);
      ui_put(w, c->y + c->h - 2, c->x + 1, more, c->w - 2, A_REVERSE);
    }
  }
}

/* ---- requests ------------------------------------------------------------------------------- */

static void bump(ui_t *ui, const char *invoice, enum request req, int64_t now_ms) {
  ticket_t *t = model_find(ui->model, invoice);
  enum ticket_status to;
  if (!t) return;
  if (t->pending) {
    ui_message(ui, UI_INFO, now_ms, "%s: still waiting for the server's answer", t->invoice);
    return;
  }
  if (req == REQ_START) {
    if (t->status != TS_NEW) {
      ui_message(ui, UI_INFO, now_ms, "%s is already %s", t->invoice, model_status_name(t->status));
      return;
    }
    to = TS_PREPARING;
  } else {
    to = t->status == TS_READY ? TS_COMPLETED : TS_READY;
  }
  if (ui->act && ui->act->set_status)
    ui->act->set_status(ui->ud, t->invoice, t->status, to, req != REQ_START);
}

static int tickets_request(ui_t *ui, enum request req, int arg, int64_t now_ms) {
  model_t *m = ui->model;
  int rows, cols;
  size_t starts[4096], npages;
  ui_card cards[MAX_CARDS];
  body_size(ui, &rows, &cols);
  resolve(ui, rows, cols, starts, &npages);
  switch (req) {
    case REQ_UP:
      if (ui->sel_idx > 0) select_idx(ui, ui->sel_idx - 1);
      return 1;
    case REQ_DOWN:
      select_idx(ui, ui->sel_idx + 1);
      return 1;
    case REQ_LEFT:
    case REQ_RIGHT: {
      size_t n = view_tickets_layout(m, ui->page_first, rows, cols, cards, MAX_CARDS);
      const ui_card *cur = NULL, *best = NULL;
      for (size_t k = 0; k < n; k++)
        if (cards[k].idx == ui->sel_idx) cur = &cards[k];
      if (!cur) return 1;
      int target_x = req == REQ_RIGHT ? cur->x + cur->w : cur->x - cur->w;
      for (size_t k = 0; k < n; k++) {
        const ui_card *c = &cards[k];
        if (c->x != target_x) continue;
        if (!best || abs(c->y - cur->y) < abs(best->y - cur->y)) best = c;
      }
      if (best)
        select_idx(ui, best->idx);
      else if (req == REQ_RIGHT && ui->page_no + 1 < npages)
        select_idx(ui, starts[ui->page_no + 1]);
      else if (req == REQ_LEFT && ui->page_no > 0)
        select_idx(ui, starts[ui->page_no] - 1);
      return 1;
    }
    case REQ_PAGE_NEXT:
      if (ui->page_no + 1 < npages) select_idx(ui, starts[ui->page_no + 1]);
      return 1;
    case REQ_PAGE_PREV:
      if (ui->page_no > 0)
        select_idx(ui, starts[ui->page_no - 1]);
      else
        select_idx(ui, 0);
      return 1;
    case REQ_START:
    case REQ_BUMP:
      if (!ui->sel[0]) {
        ui_message(ui, UI_INFO, now_ms, "No ticket selected");
        return 1;
      }
      bump(ui, ui->sel, req, now_ms);
      return 1;
    case REQ_BUMP_NTH:
      if (arg < 1 || (size_t)arg > ui->nshown) {
        ui_message(ui, UI_INFO, now_ms, "No ticket %d on screen", arg);
        return 1;
      }
      bump(ui, ui->shown[arg - 1], REQ_BUMP, now_ms);
      return 1;
    default:
      return 0;
  }
}

const view_ops view_tickets_ops = {"tickets", tickets_draw, tickets_request};
