/* layout.c: card text and the side-by-side geometry of the tickets view (see layout.h). */
#include "layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h" /* the UTF-8 width helpers only: no curses here */

#define MAX_WRAP 4 /* rows one item name or note may take */

/* ---- card text ------------------------------------------------------------------------------ */

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

typedef struct rowsink {
  const layout_ctx *c;
  layout_row *out;
  size_t max, n;
  unsigned char *keep; /* layout_ticket_keeps: keep[n] for each row (may be NULL) */
  size_t keep_max;
  enum layout_row_kind prev;
  int wrapping; /* the rows after the first of a wrapped text */
} rowsink;

static layout_row *add(rowsink *r, enum layout_row_kind kind, int line, int done, const char *text,
                       const char *right) {
  layout_row *row = NULL;
  /* rows that a column must not start with: the header block's, a line's modifiers and note,
   * the rest of a wrapped text, and the first line under its category heading */
  int keep = r->n > 0 && (kind == LR_STATUS || kind == LR_CONTEXT || kind == LR_BANNER || kind == LR_MOD ||
                          kind == LR_LNOTE || r->wrapping || (kind == LR_ITEM && r->prev == LR_CATEGORY));
  if (r->keep && r->n < r->keep_max) r->keep[r->n] = (unsigned char)keep;
  r->prev = kind;
  if (r->out && r->n < r->max) {
    row = &r->out[r->n];
    row->kind = kind;
    row->line = line;
    row->done = done;
    ui_copy(row->text, sizeof(row->text), text ? text : "");
    ui_copy(row->right, sizeof(row->right), right ? right : "");
  }
  r->n++;
  return row;
}

/* Text wrapped under a prefix (first row) and an indent of the same width (the others). */
static void add_wrapped(rowsink *r, enum layout_row_kind kind, int line, int done, const char *prefix,
                        const char *text) {
  int pw = ui_text_width(prefix, -1);
  int avail = r->c->inner_w - pw;
  char indent[40], row[LAYOUT_TEXT];
  const char *s = text;
  snprintf(indent, sizeof(indent), "%*s", pw < 30 ? pw : 30, "");
  if (avail < 4) { /* no room to wrap under a prefix: one cut row */
    snprintf(row, sizeof(row), "%s%s", prefix, text);
    add(r, kind, line, done, row, NULL);
    return;
  }
  for (int n = 0; *s; n++) {
    size_t skip, take = wrap_take(s, avail, &skip);
    if (n == MAX_WRAP - 1 && s[take + skip]) {
      /* the last row allowed: cut with an ellipsis */
      size_t t2 = ui_text_fit(s, avail - 1, NULL);
      snprintf(row, sizeof(row), "%s%.*s…", n ? indent : prefix, (int)t2, s);
      r->wrapping = n > 0;
      add(r, kind, line, done, row, NULL);
      r->wrapping = 0;
      return;
    }
    snprintf(row, sizeof(row), "%s%.*s", n ? indent : prefix, (int)take, s);
    r->wrapping = n > 0;
    add(r, kind, line, done, row, NULL);
    r->wrapping = 0;
    s += take + skip;
  }
}

static size_t ticket_rows(rowsink *rs, const ticket_t *t, int number);

size_t layout_ticket_rows(const layout_ctx *c, const ticket_t *t, int number, layout_row *out, size_t max) {
  rowsink r = {c, out, max, 0, NULL, 0, LR_TITLE, 0};
  return ticket_rows(&r, t, number);
}

size_t layout_ticket_keeps(const layout_ctx *c, const ticket_t *t, unsigned char *keep, size_t max) {
  rowsink r = {c, NULL, 0, 0, keep, max, LR_TITLE, 0};
  return ticket_rows(&r, t, 1);
}

static size_t ticket_rows(rowsink *rs, const ticket_t *t, int number) {
  rowsink r = *rs; /* (a copy, so the body below reads as before) */
  const layout_ctx *c = r.c;
  char buf[LAYOUT_TEXT], right[64], age[16];
  int w = c->inner_w;
  int64_t now = c->now_ms;
  int hot = t->seen_ms > 0 && now - t->seen_ms < UI_HIGHLIGHT_MS;
  int changed = t->changed_ms > 0 && now - t->changed_ms < MODEL_CHANGED_MS;
  int level = c->m && !t->gone ? model_age_level(c->m, t, now) : 0;

  /* Row 1: number, invoice and the marks (rush first: it must never be left out). The
   * invoice loses its "INV-" when space is short, then the marks shorten. */
  {
    const char *inv = t->invoice;
    char num[4] = "";
    if (number) snprintf(num, sizeof(num), "%d ", number);
    snprintf(right, sizeof(right), "%s%s%s%s", t->pending ? "… " : "",
             t->gone   ? ""
             : hot     ? "NEW! "
             : changed ? "UPD! "
                       : "",
             t->rush ? "RUSH " : "", "");
    size_t rl = strlen(right);
    if (rl && right[rl - 1] == ' ') right[--rl] = '\0';
    int need = ui_text_width(num, -1) + (int)strlen(inv) + 1 + ui_text_width(right, -1);
    if (need > w && strncmp(inv, "INV-", 4) == 0) inv += 4, need -= 4;
    if (need > w) /* the short marks: rush stays, as "!!" */
      snprintf(right, sizeof(right), "%s%s%s", t->pending ? "…" : "",
               hot       ? "*"
               : changed ? "~"
                         : "",
               t->rush ? "!!" : "");
    snprintf(buf, sizeof(buf), "%s%s", num, inv);
    add(&r, LR_TITLE, -1, 0, buf, right);
  }
  if (t->gone) add(&r, LR_BANNER, -1, 0, t->gone == TG_VOIDED ? "✗ VOID ✗ stop" : "✗ CANCELLED ✗ stop", NULL);

  /* Row 2: status, the order context when it fits, the age; late is said in words too
   * (colour is never the only signal). */
  {
    const char *lm = level == 2 ? "LATE " : level == 1 ? "! " : "";
    const char *st = t->gone == TG_VOIDED ? "VOID" : model_status_label(t->status);
    char count[32] = "";
    if (c->expo) {
      size_t done = 0;
      for (size_t i = 0; i < t->nlines; i++) done += (size_t)(t->lines[i].visible && t->lines[i].done);
      snprintf(count, sizeof(count), " %zu/%zu✓", done, t->nvisible);
    }
    ui_fmt_age(c->m ? model_age_ms(c->m, t, now) : now - t->created_ms, age);
    snprintf(right, sizeof(right), "%s%s", lm, age);
    int left = ui_text_width(st, -1) + ui_text_width(count, -1);
    int ctx_fits = t->context && left + 1 + ui_text_width(t->context, -1) + 1 + ui_text_width(right, -1) <= w;
    snprintf(buf, sizeof(buf), "%s%s%s%s", st, count, ctx_fits ? " " : "", ctx_fits ? t->context : "");
    add(&r, LR_STATUS, -1, 0, buf, right);
    if (t->context && !ctx_fits) add_wrapped(&r, LR_CONTEXT, -1, 0, "", t->context);
  }
  if (t->rush && !t->gone) add(&r, LR_BANNER, -1, 0, "!! RUSH !!", NULL);

  const char *cat = NULL;
  size_t hidden = 0;
  for (size_t i = 0; i < t->nlines; i++) {
    const model_line *l = &t->lines[i];
    char q[32], indent[40];
    if (!l->visible) {
      hidden++;
      continue;
    }
    if (l->category && (!cat || strcmp(cat, l->category) != 0)) {
      add(&r, LR_CATEGORY, -1, 0, l->category, NULL);
      cat = l->category;
    }
    /* the first column is the line cursor's (the view draws "▶" there); then the done
     * state, as a mark and not only as dim text */
    const char *mark = c->expo ? (l->done ? "[✓] " : "[ ] ") : (l->done ? "✓ " : "  ");
    if (l->qty > 0)
      snprintf(q, sizeof(q), " %s%dx ", mark, l->qty);
    else
      snprintf(q, sizeof(q), " %s• ", mark);
    add_wrapped(&r, LR_ITEM, (int)i, l->done, q, l->name);
    snprintf(indent, sizeof(indent), "%*s", ui_text_width(q, -1), "");
    for (size_t k = 0; k < l->nmods; k++) {
      char p[48];
      snprintf(p, sizeof(p), "%s+ ", indent);
      add_wrapped(&r, LR_MOD, (int)i, l->done, p, l->mods[k]);
    }
    if (l->note) {
      char p[48];
      snprintf(p, sizeof(p), "%s↳ ", indent);
      add_wrapped(&r, LR_LNOTE, (int)i, l->done, p, l->note);
    }
  }
  if (hidden) {
    snprintf(buf, sizeof(buf), "(+%zu for other stations)", hidden);
    add(&r, LR_HIDDEN, -1, 0, buf, NULL);
  }
  if (t->note) add_wrapped(&r, LR_NOTE, -1, 0, "» ", t->note);
  return r.n;
}

void layout_cont_title(const layout_row *title, int w, char *out, size_t size) {
  const char *inv = strstr(title->text, "INV-");
  snprintf(out, size, "…cont. %s", title->text);
  if (ui_text_width(out, -1) > w && inv) /* "2 INV-2023..." -> "2 2023..." */
    snprintf(out, size, "…cont. %.*s%s", (int)(inv - title->text), title->text, inv + 4);
}

/* ---- geometry ------------------------------------------------------------------------------- */

int layout_columns(int cols, int *colw) {
  int n = cols / LAYOUT_CARD_MIN_W;
  if (n < 1) n = 1;
  if (colw) *colw = cols / n; /* the columns share the width: no empty band at the right */
  return n;
}

/* Rows of a piece from row `shown` with `room` rows: as many as fit, ended before a row that
 * must stay with the one before it when there is such a break in the piece. */
static int piece_count(int need, int shown, int room, layout_keep_fn keep, void *ud, size_t idx) {
  int count = need - shown < room ? need - shown : room;
  if (keep && shown + count < need) {
    int e = shown + count;
    while (e > shown + 1 && keep(ud, idx, e)) e--;
    if (!keep(ud, idx, e)) count = e - shown;
  }
  return count;
}

/* Columns the rows [from, need) of ticket idx take in a body of `rows` rows: a piece holds
 * rows-2 (its border) less one row for "…cont." when it continues the ticket and one for
 * "continued →" when the ticket goes on after it. */
static int columns_for(int need, int from, int rows, layout_keep_fn keep, void *ud, size_t idx) {
  for (int k = 1;; k++) {
    int room = rows - 2 - (from > 0);
    if (need - from <= room) return k;
    from += piece_count(need, from, room - 1, keep, ud, idx);
  }
}

size_t layout_page(const int *heights, size_t n, layout_pos first, int rows, int cols, layout_keep_fn keep,
                   void *ud, layout_piece *out, size_t max, layout_pos *next) {
  int colw, ncols = layout_columns(cols, &colw), col = 0;
  size_t np = 0, i = first.idx;
  int from = first.row;
  if (next) *next = (layout_pos){first.idx < n ? first.idx : n, 0};
  if (rows < LAYOUT_MIN_ROWS || cols < 8 || first.idx >= n) return 0;
  while (i < n && col < ncols) {
    int need = heights[i], shown = from < need ? from : 0;
    /* a ticket that would not end on this page starts the next one, whole; unless it is
     * first on the page: then it fills the page and goes on on the next */
    if (col > 0 && columns_for(need, shown, rows, keep, ud, i) > ncols - col) break;
    while (col < ncols) {
      layout_piece p;
      memset(&p, 0, sizeof(p));
      p.idx = i;
      p.col = col;
      p.x = col * colw;
      p.y = 0;
      p.w = colw;
      p.first = shown;
      p.cont_from = shown > 0;
      int room = rows - 2 - p.cont_from, more = need - shown > room;
      if (more) room--; /* the "continued" row */
      p.count = piece_count(need, shown, room, keep, ud, i);
      if (more && col == ncols - 1)
        p.cut = need - shown - p.count; /* rows left for the next page */
      else
        p.cont_to = more;
      /* a piece that ends the ticket is as tall as its rows; the others fill the column */
      p.h = more ? rows : 2 + p.cont_from + p.count;
      shown += p.count;
      if (out && np < max) out[np] = p;
      np++;
      col++;
      if (shown >= need) break;
    }
    if (shown < need) { /* the page ends inside this ticket */
      if (next) *next = (layout_pos){i, shown};
      return np;
    }
    i++;
    from = 0;
  }
  if (next) *next = (layout_pos){i, 0};
  return np;
}

size_t layout_pages(const int *heights, size_t n, int rows, int cols, layout_keep_fn keep, void *ud,
                    layout_pos *starts, size_t max) {
  size_t np = 0;
  layout_pos first = {0, 0};
  if (max == 0) return 0;
  starts[np++] = first;
  while (first.idx < n && np < max) {
    layout_pos next;
    if (layout_page(heights, n, first, rows, cols, keep, ud, NULL, 0, &next) == 0 || next.idx >= n) break;
    starts[np++] = next;
    first = next;
  }
  return np;
}

void layout_keeper_init(layout_keeper *k, const layout_ctx *c, ticket_t *const *list, int cols) {
  int colw;
  memset(k, 0, sizeof(*k));
  k->ctx = *c;
  layout_columns(cols, &colw);
  k->ctx.inner_w = colw - 2;
  k->list = list;
  k->idx = (size_t)-1;
}

void layout_keeper_release(layout_keeper *k) {
  free(k->keep);
  k->keep = NULL;
  k->n = k->cap = 0;
  k->idx = (size_t)-1;
}

int layout_keep(void *ud, size_t idx, int row) {
  layout_keeper *k = ud;
  if (idx != k->idx) {
    size_t n = layout_ticket_keeps(&k->ctx, k->list[idx], NULL, 0);
    if (n > k->cap) {
      unsigned char *p = realloc(k->keep, n);
      if (!p) return 0; /* no memory: break anywhere */
      k->keep = p;
      k->cap = n;
    }
    k->n = layout_ticket_keeps(&k->ctx, k->list[idx], k->keep, k->cap);
    k->idx = idx;
  }
  return row >= 0 && (size_t)row < k->n ? k->keep[row] : 0;
}

void layout_heights(const layout_ctx *c, ticket_t *const *list, size_t n, int cols, int *heights) {
  layout_ctx cc = *c;
  int colw;
  layout_columns(cols, &colw);
  cc.inner_w = colw - 2;
  for (size_t i = 0; i < n; i++) heights[i] = (int)layout_ticket_rows(&cc, list[i], 1, NULL, 0);
}
