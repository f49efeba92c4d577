/* view_tickets.c: the main view: tickets as cards side by side, one per column, rush first,
 * then oldest (geometry and text from layout.c), with selection, the line cursor, paging and
 * the bump keys. */
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "ui.h"

#define W(p) ((WINDOW *)(p))

#define MAX_PIECES 512
#define MAX_PAGES 4096
#define MAX_ROWS 4096 /* content rows of one ticket drawn (200 lines of 4 rows + modifiers) */

/* The view shows model->disp: the open tickets plus the ones leaving (SPEC 10.8). */

static layout_ctx ctx_of(const ui_t *ui, int64_t now_ms, int cols) {
  layout_ctx c = {ui->model, now_ms, 0, ui->expo};
  int colw;
  layout_columns(cols, &colw);
  c.inner_w = colw - 2;
  return c;
}

/* Content rows of every ticket shown (a fresh array, NULL when there are none or no memory). */
static int *heights_of(const ui_t *ui, int cols, int64_t now_ms) {
  layout_ctx c = ctx_of(ui, now_ms, cols);
  int *h;
  if (ui->model->ndisp == 0 || !(h = malloc(ui->model->ndisp * sizeof(*h)))) return NULL;
  layout_heights(&c, ui->model->disp, ui->model->ndisp, cols, h);
  return h;
}

/* Resolves the selection (by invoice; by position when that ticket is gone), the line cursor
 * and the page. */
/* The last ticket that page p shows (a page may end inside one). */
static size_t page_last(const layout_pos *starts, size_t np, size_t p, size_t n) {
  if (p + 1 >= np) return n ? n - 1 : 0;
  return starts[p + 1].row > 0 ? starts[p + 1].idx : starts[p + 1].idx - 1;
}

static void resolve(ui_t *ui, const int *heights, int rows, int cols, int64_t now_ms, layout_pos *starts,
                    size_t *npages) {
  size_t idx = ui->sel_idx, n = ui->model->ndisp;
  int found = 0;
  if (ui->sel[0]) {
    for (size_t i = 0; i < n; i++) {
      if (strcmp(ui->model->disp[i]->invoice, ui->sel) == 0) {
        idx = i;
        found = 1;
        break;
      }
    }
  }
  if (n == 0) {
    ui->sel[0] = '\0';
    ui->sel_idx = 0;
  } else {
    if (!found && idx >= n) idx = n - 1;
    ui->sel_idx = idx;
    snprintf(ui->sel, sizeof(ui->sel), "%s", ui->model->disp[idx]->invoice);
  }
  if (strcmp(ui->line_inv, ui->sel) != 0) {
    ui->line_sel = -1; /* the cursor belongs to one ticket */
    snprintf(ui->line_inv, sizeof(ui->line_inv), "%s", ui->sel);
  }
  if (n && ui->line_sel >= (int)ui->model->disp[ui->sel_idx]->nlines) ui->line_sel = -1;
  layout_keeper k;
  layout_ctx c = ctx_of(ui, now_ms, cols);
  layout_keeper_init(&k, &c, ui->model->disp, cols);
  *npages = heights ? layout_pages(heights, n, rows, cols, layout_keep, &k, starts, MAX_PAGES) : 1;
  layout_keeper_release(&k);
  if (!heights) starts[0] = (layout_pos){0, 0};
  /* The page shown is the one with the selection; it stays put while it still has it (a
   * ticket taller than a page is on more than one: PgDn moves through them). */
  size_t p = ui->page_no;
  if (p >= *npages || starts[p].idx > ui->sel_idx || page_last(starts, *npages, p, n) < ui->sel_idx) {
    for (p = 0; p + 1 < *npages && page_last(starts, *npages, p, n) < ui->sel_idx; p++) {
    }
  }
  ui->page_no = p;
  ui->page_first = starts[p].idx;
  ui->page_row = starts[p].row;
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
  if (idx >= ui->model->ndisp) return;
  ui->sel_idx = idx;
  snprintf(ui->sel, sizeof(ui->sel), "%s", ui->model->disp[idx]->invoice);
}

/* ---- drawing -------------------------------------------------------------------------------- */

static enum ui_color status_color(enum ticket_status s) {
  return s == TS_PREPARING ? UC_ST_PREPARING : s == TS_READY ? UC_ST_READY : UC_ST_NEW;
}

static void draw_box(WINDOW *w, const layout_piece *c, int selected, unsigned long attr) {
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

/* One content row at (y, x), `cols` wide. Attributes by the row's kind; without colours the
 * marks in the text carry everything (status words, RUSH, ✓, CANCELLED, LATE). */
static void draw_row(ui_t *ui, WINDOW *w, int y, int x, int cols, const ticket_t *t, const layout_row *r,
                     int cursor, int64_t now_ms) {
  unsigned long a = 0;
  int fill = 0, level = t->gone ? 0 : model_age_level(ui->model, t, now_ms);
  int hot = t->seen_ms > 0 && now_ms - t->seen_ms < UI_HIGHLIGHT_MS;
  switch (r->kind) {
    case LR_TITLE:
      a = (ui->color ? ui_color(ui, t->gone ? UC_ERROR : status_color(t->status)) : A_REVERSE) | A_BOLD;
      fill = 1;
      break;
    case LR_STATUS:
      a = level == 2   ? (ui->color ? ui_color(ui, UC_AGE_LATE) : A_REVERSE) | A_BOLD
          : level == 1 ? (ui->color ? ui_color(ui, UC_AGE_WARN) : 0) | A_BOLD
                       : A_BOLD;
      fill = 1;
      break;
    case LR_CONTEXT:
      a = A_BOLD;
      break;
    case LR_BANNER:
      a = (ui->color ? ui_color(ui, t->gone ? UC_ERROR : UC_AGE_LATE) : A_REVERSE) | A_BOLD;
      fill = 1;
      break;
    case LR_CATEGORY:
      a = ui_color(ui, UC_CATEGORY) | A_UNDERLINE;
      break;
    case LR_ITEM:
      a = r->done ? A_DIM : A_BOLD;
      break;
    case LR_MOD:
    case LR_LNOTE:
      a = r->done ? A_DIM : ui_color(ui, UC_NOTE);
      break;
    case LR_HIDDEN:
      a = A_DIM;
      break;
    case LR_NOTE:
      a = ui_color(ui, UC_NOTE) | A_BOLD;
      break;
  }
  if (t->gone && r->kind != LR_TITLE && r->kind != LR_BANNER) a = A_DIM;
  if (cursor) a |= A_REVERSE, fill = 1;
  if (fill) mvwhline(w, y, x, ' ' | (chtype)a, cols);
  ui_put(w, y, x, r->text, cols, a);
  if (cursor && r->kind == LR_ITEM) ui_put(w, y, x, "▶", 1, a);
  int rw = ui_text_width(r->right, -1);
  if (rw && cols > rw)
    ui_put(w, y, x + cols - rw, r->right, rw, a | (r->kind == LR_TITLE && hot ? A_BLINK : 0));
}

/* One piece of a ticket's card: its box, "…cont." on top when it goes on from the previous
 * column or page, its rows, and the mark at the bottom when it goes on after it. */
static void draw_piece(ui_t *ui, WINDOW *w, const layout_piece *p, const ticket_t *t, const layout_row *rows,
                       size_t nrows, int64_t now_ms) {
  int selected = p->idx == ui->sel_idx;
  int hot = !t->gone && ((t->seen_ms > 0 && now_ms - t->seen_ms < UI_HIGHLIGHT_MS) ||
                         (t->changed_ms > 0 && now_ms - t->changed_ms < MODEL_CHANGED_MS));
  unsigned long battr = t->gone    ? (ui_color(ui, UC_ERROR) | A_BOLD)
                        : hot      ? (ui_color(ui, UC_HILITE) | A_REVERSE | A_BOLD)
                        : selected ? A_BOLD
                                   : 0;
  int x = p->x + 1, y = p->y + 1, iw = p->w - 2;
  draw_box(w, p, selected, battr);
  if (p->cont_from) {
    /* the top of a continuation says whose it is */
    layout_row head = rows[0];
    layout_cont_title(&rows[0], iw, head.text, sizeof(head.text));
    draw_row(ui, w, y++, x, iw, t, &head, 0, now_ms);
  }
  for (int i = 0; i < p->count && (size_t)(p->first + i) < nrows; i++) {
    const layout_row *r = &rows[p->first + i];
    int cursor = selected && ui->line_sel >= 0 && r->line == ui->line_sel && r->kind == LR_ITEM;
    draw_row(ui, w, y++, x, iw, t, r, cursor, now_ms);
  }
  if (p->cont_to) {
    mvwhline(w, y, x, ' ' | A_REVERSE, iw);
    ui_put(w, y, x, "▼ more · continued →", iw, A_REVERSE | A_BOLD);
  } else if (p->cut) {
    char more[48];
    mvwhline(w, y, x, ' ' | A_REVERSE, iw);
    snprintf(more, sizeof(more), "▼ +%d rows: next page →", p->cut);
    ui_put(w, y, x, more, iw, A_REVERSE | A_BOLD);
  }
}

static void tickets_draw(ui_t *ui, void *vwin, int64_t now_ms) {
  WINDOW *w = W(vwin);
  model_t *m = ui->model;
  int rows, cols;
  size_t npages;
  layout_pos starts[MAX_PAGES], next;
  layout_piece *pieces;
  layout_row *rowbuf;
  int *heights;
  getmaxyx(w, rows, cols);
  heights = heights_of(ui, cols, now_ms);
  resolve(ui, heights, rows, cols, now_ms, starts, &npages);
  ui->nshown = 0;
  if (ui->model->ndisp == 0 || !heights) {
    const char *s = ui->model->ndisp ? "Out of memory"
                    : m->n           ? "No tickets for this station"
                                     : "No open tickets";
    int sw = ui_text_width(s, -1);
    ui_put(w, rows / 2, cols > sw ? (cols - sw) / 2 : 0, s, cols, A_BOLD);
    free(heights);
    return;
  }
  pieces = malloc(MAX_PIECES * sizeof(*pieces));
  rowbuf = malloc(MAX_ROWS * sizeof(*rowbuf));
  layout_keeper keeper;
  layout_ctx kc = ctx_of(ui, now_ms, cols);
  layout_keeper_init(&keeper, &kc, ui->model->disp, cols);
  size_t n = pieces && rowbuf ? layout_page(heights, ui->model->ndisp, starts[ui->page_no], rows, cols,
                                            layout_keep, &keeper, pieces, MAX_PIECES, &next)
                              : 0;
  layout_keeper_release(&keeper);
  if (n == 0) {
    ui_put(w, 0, 0, pieces && rowbuf ? "Terminal too small" : "Out of memory", cols, A_BOLD);
  }
  if (n > MAX_PIECES) n = MAX_PIECES;
  layout_ctx c = ctx_of(ui, now_ms, cols);
  size_t drawn_idx = (size_t)-1, nrows = 0;
  int number = 0;
  for (size_t k = 0; k < n; k++) {
    const layout_piece *p = &pieces[k];
    const ticket_t *t = ui->model->disp[p->idx];
    if (p->idx != drawn_idx) {
      /* a new ticket on the page: its number (open tickets only) and its rows */
      number = 0;
      if (!t->gone && ui->nshown < 9) {
        snprintf(ui->shown[ui->nshown], sizeof(ui->shown[0]), "%s", t->invoice);
        number = (int)++ui->nshown;
      }
      nrows = layout_ticket_rows(&c, t, number, rowbuf, MAX_ROWS);
      if (nrows > MAX_ROWS) nrows = MAX_ROWS;
      drawn_idx = p->idx;
    }
    draw_piece(ui, w, p, t, rowbuf, nrows, now_ms);
  }
  free(rowbuf);
  free(pieces);
  free(heights);
}

/* ---- requests ------------------------------------------------------------------------------- */

/* A station screen (--station, not --expo) bumps its own lines: every line of the ticket it
 * shows that is not done yet is marked done (SPEC 10.3); the order moves on by itself when
 * every station has. */
static void bump_lines(ui_t *ui, ticket_t *t, int64_t now_ms) {
  int sent = 0;
  for (size_t i = 0; i < t->nlines; i++) {
    const model_line *l = &t->lines[i];
    if (!l->visible || l->done || l->n <= 0) continue;
    if (ui->act && ui->act->line_done) ui->act->line_done(ui->ud, t->invoice, l->n, 1);
    sent++;
  }
  if (!sent) ui_message(ui, UI_INFO, now_ms, "%s: this station's lines are all done", t->invoice);
}

static void bump(ui_t *ui, const char *invoice, enum request req, int64_t now_ms) {
  ticket_t *t = model_find(ui->model, invoice);
  enum ticket_status to;
  if (!t) return; /* a leaving (cancelled) ticket: nothing to bump */
  if (t->pending) {
    ui_message(ui, UI_INFO, now_ms, "%s: still waiting for the server's answer", t->invoice);
    return;
  }
  if (req != REQ_START && ui->model->nstations > 0 && !ui->expo) {
    bump_lines(ui, t, now_ms);
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

/* Moves the line cursor to the next (dir 1) or previous (-1) visible line of the selected
 * ticket; up from the first line leaves the lines (no cursor). */
static void line_move(ui_t *ui, int dir) {
  const ticket_t *t = ui->model->ndisp ? ui->model->disp[ui->sel_idx] : NULL;
  if (!t) return;
  for (int i = ui->line_sel + dir; i >= 0 && i < (int)t->nlines; i += dir) {
    if (t->lines[i].visible) {
      ui->line_sel = i;
      return;
    }
  }
  if (dir < 0) ui->line_sel = -1;
}

static void line_toggle(ui_t *ui, int64_t now_ms) {
  ticket_t *t = ui->sel[0] ? model_find(ui->model, ui->sel) : NULL;
  const model_line *l;
  if (!t) {
    ui_message(ui, UI_INFO, now_ms, "No ticket selected");
    return;
  }
  if (ui->line_sel < 0 || ui->line_sel >= (int)t->nlines) {
    ui_message(ui, UI_INFO, now_ms, "Pick a line first: Down/Up (j/k) move the line cursor");
    return;
  }
  l = &t->lines[ui->line_sel];
  if (l->n <= 0) {
    ui_message(ui, UI_INFO, now_ms, "%s: the server did not number this line", t->invoice);
    return;
  }
  if (ui->act && ui->act->line_done) ui->act->line_done(ui->ud, t->invoice, l->n, !l->done);
}

static int tickets_request(ui_t *ui, enum request req, int arg, int64_t now_ms) {
  int rows, cols;
  size_t npages;
  layout_pos starts[MAX_PAGES];
  int *heights;
  body_size(ui, &rows, &cols);
  heights = heights_of(ui, cols, now_ms);
  resolve(ui, heights, rows, cols, now_ms, starts, &npages);
  free(heights);
  switch (req) {
    case REQ_UP:
      line_move(ui, -1);
      return 1;
    case REQ_DOWN:
      line_move(ui, 1);
      return 1;
    case REQ_LEFT:
      /* one ticket per column: left and right are the previous and next ticket (and page) */
      if (ui->sel_idx > 0) select_idx(ui, ui->sel_idx - 1);
      return 1;
    case REQ_RIGHT:
      select_idx(ui, ui->sel_idx + 1);
      return 1;
    case REQ_PAGE_NEXT:
      if (ui->page_no + 1 < npages) {
        ui->page_no++;
        select_idx(ui, starts[ui->page_no].idx);
      }
      return 1;
    case REQ_PAGE_PREV:
      if (ui->page_no > 0) {
        ui->page_no--;
        select_idx(ui, starts[ui->page_no].idx);
      } else {
        select_idx(ui, 0);
      }
      return 1;
    case REQ_LINE_DONE:
      line_toggle(ui, now_ms);
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
