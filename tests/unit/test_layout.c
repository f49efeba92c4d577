/* Unit tests for kds-tui/layout.c: the side-by-side geometry and the card text, without
 * curses. A fixed model is laid out, rendered into a character grid (boxes in ASCII) and
 * compared with the expected screen at 80x24, 120x36, 200x50 and 300x80 (body sizes: the
 * header takes one row, the footer two). */
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test.h"

#include "buf.h"
#include "layout.h"
#include "model.h"
#include "ui.h"

#define T0 1699000000000LL
#define NOW (T0 + 65000)

/* An order with SPEC 10 extras: `extra` is more top-level JSON (",\"rush\":true"). */
static void add(model_t *m, const char *inv, int64_t created, const char *lines, const char *extra) {
  char buf[16384], iso[64];
  time_t t = (time_t)(created / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  snprintf(buf, sizeof(buf),
           "{\"invoice_number\":\"%s\",\"status\":\"new\",\"created_at\":\"%s\",\"updated_at\":\"%s\","
           "\"lines\":%s%s}",
           inv, iso, iso, lines, extra ? extra : "");
  cJSON *j = cJSON_Parse(buf);
  if (!j) abort();
  ok(model_apply(m, "new-order", j, T0, NULL) == MODEL_ADDED, "%s added", inv);
  cJSON_Delete(j);
}

/* ---- a text renderer of the layout (what view_tickets.c draws, in ASCII boxes) ------------- */

#define GR 90
#define GC 310

typedef struct grid {
  char cell[GR][GC][5]; /* one UTF-8 character per cell */
  int rows, cols;
} grid;

static void g_put(grid *g, int y, int x, const char *s, int cols) {
  while (*s && cols > 0 && x < g->cols) {
    int w;
    size_t len = ui_text_fit(s, 1, &w);
    if (len == 0) break;
    if (x >= 0 && y >= 0 && y < g->rows) snprintf(g->cell[y][x], 5, "%.*s", (int)len, s);
    s += len;
    x++;
    cols--;
  }
}

static void g_row(grid *g, int y, int x, int w, const layout_row *r, const char *prefix) {
  char buf[LAYOUT_TEXT + 16];
  snprintf(buf, sizeof(buf), "%s%s", prefix, r->text);
  g_put(g, y, x, buf, w);
  int rw = ui_text_width(r->right, -1);
  if (rw && w > rw) g_put(g, y, x + w - rw, r->right, rw);
}

/* Renders page `page` of the display list of `m` in a body of rows x cols into a string
 * (rows joined by '\n', trailing blanks trimmed, trailing empty rows dropped). */
static char *render(model_t *m, int rows, int cols, size_t page, int expo, size_t *npages) {
  static grid g;
  layout_ctx c = {m, NOW, 0, expo};
  layout_pos starts[64], next;
  layout_piece p[64];
  int *h = calloc(m->ndisp + 1, sizeof(int));
  layout_row *rb = calloc(4096, sizeof(*rb));
  kds_buf out = KDS_BUF_INIT;
  int colw, number = 0;
  layout_columns(cols, &colw);
  c.inner_w = colw - 2;
  g.rows = rows;
  g.cols = cols;
  for (int y = 0; y < rows; y++)
    for (int x = 0; x < cols; x++) strcpy(g.cell[y][x], " ");
  layout_heights(&c, m->disp, m->ndisp, cols, h);
  layout_keeper kp;
  layout_keeper_init(&kp, &c, m->disp, cols);
  *npages = layout_pages(h, m->ndisp, rows, cols, layout_keep, &kp, starts, 64);
  size_t n =
      page < *npages ? layout_page(h, m->ndisp, starts[page], rows, cols, layout_keep, &kp, p, 64, &next) : 0;
  size_t cur = (size_t)-1, nr = 0;
  for (size_t k = 0; k < n; k++) {
    const layout_piece *q = &p[k];
    if (q->idx != cur) {
      cur = q->idx;
      nr = layout_ticket_rows(&c, m->disp[q->idx], ++number, rb, 4096);
    }
    for (int x = q->x; x < q->x + q->w; x++) {
      strcpy(g.cell[q->y][x], "-");
      strcpy(g.cell[q->y + q->h - 1][x], "-");
    }
    for (int y = q->y; y < q->y + q->h; y++) {
      strcpy(g.cell[y][q->x], y == q->y || y == q->y + q->h - 1 ? "+" : "|");
      strcpy(g.cell[y][q->x + q->w - 1], y == q->y || y == q->y + q->h - 1 ? "+" : "|");
    }
    int y = q->y + 1, x = q->x + 1, w = q->w - 2;
    if (q->cont_from) {
      layout_row head = rb[0];
      layout_cont_title(&rb[0], w, head.text, sizeof(head.text));
      g_row(&g, y++, x, w, &head, "");
    }
    for (int i = 0; i < q->count && (size_t)(q->first + i) < nr; i++)
      g_row(&g, y++, x, w, &rb[q->first + i], "");
    if (q->cont_to) g_put(&g, y, x, "▼ more · continued →", w);
    if (q->cut) {
      char more[48];
      snprintf(more, sizeof(more), "▼ +%d rows: next page →", q->cut);
      g_put(&g, y, x, more, w);
    }
  }
  int last = 0;
  for (int y = 0; y < rows; y++)
    for (int x = 0; x < cols; x++)
      if (strcmp(g.cell[y][x], " ") != 0) last = y + 1;
  for (int y = 0; y < last; y++) {
    size_t start = out.len;
    for (int x = 0; x < cols; x++) kds_buf_adds(&out, g.cell[y][x]);
    while (out.len > start && out.base[out.len - 1] == ' ') out.base[--out.len] = '\0';
    kds_buf_adds(&out, "\n");
  }
  layout_keeper_release(&kp);
  free(h);
  free(rb);
  return kds_buf_detach(&out, NULL);
}

static int same(const char *got, const char *want, const char *what) {
  int pass = strcmp(got, want) == 0;
  ok(pass, "%s", what);
  if (!pass) {
    printf("# --- want:\n");
    for (const char *s = want; *s;) {
      const char *e = strchr(s, '\n');
      printf("# |%.*s\n", (int)(e ? e - s : (long)strlen(s)), s);
      s = e ? e + 1 : s + strlen(s);
    }
    printf("# --- got:\n");
    for (const char *s = got; *s;) {
      const char *e = strchr(s, '\n');
      printf("# |%.*s\n", (int)(e ? e - s : (long)strlen(s)), s);
      s = e ? e + 1 : s + strlen(s);
    }
  }
  return pass;
}

/* ---- the fixture ---------------------------------------------------------------------------- */

static const char *corndog =
    "[{\"name\":\"Corndog Sosis\",\"category\":\"ISI CORNDOG\",\"qty\":2,"
    "\"modifiers\":[\"no mayo\",\"extra spicy\"],\"note\":\"cut in half\"},"
    "{\"name\":\"Saus Tomat\",\"category\":\"SAUS ASIN\",\"qty\":1,\"done\":true}]";
static const char *kopi = "[{\"name\":\"Kopi Susu\",\"category\":\"MINUMAN\",\"qty\":3}]";

/* Four tickets: A (oldest, dine in, modifiers, a done line), B, C (rush: first), D. */
static void fixture(model_t *m) {
  model_init(m, NULL);
  add(m, "INV-20231103-0001", T0, corndog,
      ",\"note\":\"no onion\",\"order_type\":\"dine_in\",\"table\":\"4\"");
  add(m, "INV-20231103-0002", T0 + 1000, kopi, ",\"order_type\":\"takeaway\",\"customer_name\":\"Budi\"");
  add(m, "INV-20231103-0003", T0 + 2000, kopi, ",\"rush\":true");
  add(m, "INV-20231103-0004", T0 + 3000, kopi, NULL);
}

static void t_text(void) {
  model_t m;
  layout_row r[64];
  fixture(&m);
  layout_ctx c = {&m, NOW, 28, 0};
  ticket_t *a = model_find(&m, "INV-20231103-0001");
  size_t n = layout_ticket_rows(&c, a, 1, r, 64);
  ok(n == 10, "rows of A (%zu)", n);
  ok(r[0].kind == LR_TITLE && strcmp(r[0].text, "1 INV-20231103-0001") == 0, "title: number, invoice");
  ok(r[1].kind == LR_STATUS && strcmp(r[1].text, "NEW DINE IN T4") == 0 && strcmp(r[1].right, "01:05") == 0,
     "status row: status, order type and table, age (%s|%s)", r[1].text, r[1].right);
  ok(r[3].kind == LR_ITEM && strcmp(r[3].text, "   2x Corndog Sosis") == 0 && !r[3].done, "the line");
  ok(r[4].kind == LR_MOD && strcmp(r[4].text, "      + no mayo") == 0 && r[4].line == r[3].line,
     "a modifier indented under its line");
  ok(r[6].kind == LR_LNOTE && strcmp(r[6].text, "      ↳ cut in half") == 0, "the line note under it");
  ok(r[8].kind == LR_ITEM && r[8].done && strcmp(r[8].text, " ✓ 1x Saus Tomat") == 0,
     "a done line has a mark, not only dim text");
  ok(layout_ticket_rows(&c, a, 1, NULL, 0) == n, "counting gives the same");
  c.expo = 1;
  n = layout_ticket_rows(&c, a, 1, r, 64);
  ok(strcmp(r[1].text, "NEW 1/2✓ DINE IN T4") == 0, "expo: lines done on the status row (%s)", r[1].text);
  ok(strcmp(r[3].text, " [ ] 2x Corndog Sosis") == 0 && strcmp(r[8].text, " [✓] 1x Saus Tomat") == 0,
     "expo: every line with its done state");
  c.expo = 0;
  ticket_t *rush = model_find(&m, "INV-20231103-0003");
  n = layout_ticket_rows(&c, rush, 1, r, 64);
  ok(strcmp(r[0].right, "RUSH") == 0 && r[2].kind == LR_BANNER && strcmp(r[2].text, "!! RUSH !!") == 0,
     "rush: a mark on the title and a banner");
  ok(m.disp[0] == rush, "rush first");
  {
    /* an update that makes B rush: highlighted as changed, first in the queue */
    cJSON *j = cJSON_Parse(
        "{\"invoice_number\":\"INV-20231103-0002\",\"status\":\"new\","
        "\"created_at\":\"2023-11-03T08:26:41.000Z\",\"updated_at\":\"2030-01-01T00:00:00.000Z\","
        "\"rush\":true,\"lines\":[{\"name\":\"Kopi Susu\",\"category\":\"MINUMAN\",\"qty\":3}]}");
    ok(model_apply(&m, "order-updated", j, NOW - 1000, NULL) == MODEL_UPDATED, "B updated");
    cJSON_Delete(j);
    ticket_t *b = model_find(&m, "INV-20231103-0002");
    layout_row rr[16];
    layout_ticket_rows(&c, b, 1, rr, 16);
    ok(b->changed_ms == NOW - 1000 && strcmp(rr[0].right, "UPD! RUSH") == 0 &&
           strcmp(rr[0].text, "1 20231103-0002") == 0,
       "a change of rush: UPD! next to RUSH (%s|%s)", rr[0].text, rr[0].right);
    c.now_ms = NOW + MODEL_CHANGED_MS;
    layout_ticket_rows(&c, b, 1, rr, 16);
    ok(strcmp(rr[0].right, "RUSH") == 0, "... for a few seconds");
    c.now_ms = NOW;
    j = cJSON_Parse(
        "{\"invoice_number\":\"INV-20231103-0002\",\"status\":\"preparing\","
        "\"created_at\":\"2023-11-03T08:26:41.000Z\",\"updated_at\":\"2030-01-01T00:00:01.000Z\","
        "\"rush\":true,\"lines\":[{\"name\":\"Kopi "
        "Susu\",\"category\":\"MINUMAN\",\"qty\":3,\"done\":true}]}");
    model_apply(&m, "order-updated", j, NOW + 10000, NULL);
    cJSON_Delete(j);
    ok(model_find(&m, "INV-20231103-0002")->changed_ms == NOW - 1000,
       "a status or done change is not a change of content");
  }
  c.inner_w = 18;
  layout_ticket_rows(&c, rush, 1, r, 64);
  ok(strcmp(r[0].text, "1 20231103-0003") == 0 && strcmp(r[0].right, "!!") == 0,
     "narrow: the invoice loses INV-, rush stays as !! (%s|%s)", r[0].text, r[0].right);
  model_release(&m);
}

/* ---- screens -------------------------------------------------------------------------------- */

static void t_80x24(void) {
  model_t m;
  size_t np;
  fixture(&m);
  char *s = render(&m, 21, 80, 0, 0, &np);
  same(s,
       "+------------------------++------------------------++------------------------+\n"
       "|1 INV-20231103-0003 RUSH||2 INV-20231103-0001     ||3 INV-20231103-0002     |\n"
       "|NEW                01:03||NEW DINE IN T4     01:05||NEW TAKEAWAY Budi  01:04|\n"
       "|!! RUSH !!              ||ISI CORNDOG             ||MINUMAN                 |\n"
       "|MINUMAN                 ||   2x Corndog Sosis     ||   3x Kopi Susu         |\n"
       "|   3x Kopi Susu         ||      + no mayo         |+------------------------+\n"
       "+------------------------+|      + extra spicy     |\n"
       "                          |      ↳ cut in half     |\n"
       "                          |SAUS ASIN               |\n"
       "                          | ✓ 1x Saus Tomat        |\n"
       "                          |» no onion              |\n"
       "                          +------------------------+\n",
       "80x24: three columns, rush first, then oldest; context, modifiers, note, done mark");
  ok(np == 2, "80x24: the fourth ticket is on page 2 (%zu pages)", np);
  free(s);
  s = render(&m, 21, 80, 1, 0, &np);
  same(s,
       "+------------------------+\n"
       "|1 INV-20231103-0004     |\n"
       "|NEW                01:02|\n"
       "|MINUMAN                 |\n"
       "|   3x Kopi Susu         |\n"
       "+------------------------+\n",
       "80x24 page 2: the numbers follow the page");
  free(s);
  model_release(&m);
}

static void t_120x36(void) {
  model_t m;
  size_t np;
  fixture(&m);
  char *s = render(&m, 33, 120, 0, 0, &np);
  same(s,
       "+----------------------------++----------------------------++----------------------------++----------"
       "------------------+\n"
       "|1 INV-20231103-0003     RUSH||2 INV-20231103-0001         ||3 INV-20231103-0002         ||4 "
       "INV-20231103-0004         |\n"
       "|NEW                    01:03||NEW DINE IN T4         01:05||NEW TAKEAWAY Budi      01:04||NEW       "
       "             01:02|\n"
       "|!! RUSH !!                  ||ISI CORNDOG                 ||MINUMAN                     ||MINUMAN   "
       "                  |\n"
       "|MINUMAN                     ||   2x Corndog Sosis         ||   3x Kopi Susu             ||   3x "
       "Kopi Susu             |\n"
       "|   3x Kopi Susu             ||      + no mayo             "
       "|+----------------------------++----------------------------+\n"
       "+----------------------------+|      + extra spicy         |\n"
       "                              |      ↳ cut in half         |\n"
       "                              |SAUS ASIN                   |\n"
       "                              | ✓ 1x Saus Tomat            |\n"
       "                              |» no onion                  |\n"
       "                              +----------------------------+\n",
       "120x36: four tickets side by side over the whole width");
  ok(np == 1, "one page");
  free(s);
  model_release(&m);
}

/* A ticket of 40 lines: taller than a 200x50 body, it goes on in the next column. */
static void tall(model_t *m, const char *inv, int64_t created, int nlines) {
  kds_buf b = KDS_BUF_INIT;
  kds_buf_adds(&b, "[");
  for (int i = 0; i < nlines; i++)
    kds_buf_addf(&b, "%s{\"name\":\"Item %d\",\"category\":\"C%d\",\"qty\":1}", i ? "," : "", i + 1, i / 10);
  kds_buf_adds(&b, "]");
  add(m, inv, created, b.base, NULL);
  kds_buf_release(&b);
}

static void t_200x50_continued(void) {
  model_t m;
  size_t np;
  layout_piece p[64];
  fixture(&m);
  tall(&m, "INV-20231103-0000", T0 - 1000, 60); /* oldest, after the rush one */
  int colw, ncols = layout_columns(200, &colw);
  ok(ncols == 7 && colw == 28, "200 columns: seven cards of 28 (%d x %d)", ncols, colw);
  char *s = render(&m, 47, 200, 0, 0, &np);
  const char *want =
      "+--------------------------++--------------------------++--------------------------++-----------------"
      "---------++--------------------------++--------------------------+\n"
      "|1 INV-20231103-0003   RUSH||2 INV-20231103-0000       ||…cont. 2 INV-20231103-0000||3 "
      "INV-20231103-0001       ||4 INV-20231103-0002       ||5 INV-20231103-0004       |\n";
  ok(strncmp(s, want, strlen(want)) == 0,
     "200x50: the tall ticket takes two columns, the second marked …cont.");
  if (test_failed) printf("%s", s);
  free(s);
  layout_ctx c = {&m, NOW, colw - 2, 0};
  int h[8];
  layout_heights(&c, m.disp, m.ndisp, 200, h);
  size_t n = layout_page(h, m.ndisp, (layout_pos){0, 0}, 47, 200, NULL, NULL, p, 64, NULL);
  ok(n == 6 && p[1].cont_to && !p[1].cont_from && p[2].cont_from && !p[2].cont_to && p[1].count == 44 &&
         p[2].first == 44 && p[2].count == h[1] - 44 && p[1].h == 47,
     "pieces: first 44 rows with the 'continued' row, the rest under a '…cont.' row (%zu %d %d)", n,
     p[1].count, h[1]);
  s = render(&m, 47, 200, 0, 0, &np);
  ok(strstr(s, "|▼ more · continued →      |") != NULL, "the cut is marked");
  free(s);
  model_release(&m);
}

static void t_300x80_paging(void) {
  model_t m;
  size_t np;
  layout_pos starts[16];
  model_init(&m, NULL);
  for (int i = 0; i < 25; i++) {
    char inv[32];
    snprintf(inv, sizeof(inv), "INV-20231103-%04d", i + 1);
    add(&m, inv, T0 + i * 1000, kopi, i == 20 ? ",\"rush\":true" : NULL);
  }
  int colw, ncols = layout_columns(300, &colw);
  ok(ncols == 11 && colw == 27, "300 columns: eleven cards (%d x %d)", ncols, colw);
  char *s = render(&m, 77, 300, 0, 0, &np);
  ok(np == 3, "25 tickets at eleven a page: three pages (%zu)", np);
  ok(strncmp(strchr(s, '\n') + 1, "|1 INV-20231103-0021  RUSH||2 INV-20231103-0001      |", 54) == 0,
     "the rush ticket first, then the oldest");
  if (test_failed) printf("%.400s", s);
  free(s);
  s = render(&m, 77, 300, 2, 0, &np);
  same(s,
       "+-------------------------++-------------------------++-------------------------+\n"
       "|1 INV-20231103-0023      ||2 INV-20231103-0024      ||3 INV-20231103-0025      |\n"
       "|NEW                 00:43||NEW                 00:42||NEW                 00:41|\n"
       "|MINUMAN                  ||MINUMAN                  ||MINUMAN                  |\n"
       "|   3x Kopi Susu          ||   3x Kopi Susu          ||   3x Kopi Susu          |\n"
       "+-------------------------++-------------------------++-------------------------+\n",
       "300x80 page 3: the last three, numbered from 1");
  free(s);
  int h[32];
  layout_ctx c = {&m, NOW, colw - 2, 0};
  layout_heights(&c, m.disp, m.ndisp, 300, h);
  ok(layout_pages(h, m.ndisp, 77, 300, NULL, NULL, starts, 16) == 3 && starts[1].idx == 11 &&
         starts[2].idx == 22 && starts[1].row == 0,
     "page starts");
  ok(layout_page(h, m.ndisp, (layout_pos){0, 0}, 4, 300, NULL, NULL, NULL, 0, NULL) == 0,
     "a body of 4 rows: no card");
  ok(layout_page(h, 0, (layout_pos){0, 0}, 77, 300, NULL, NULL, NULL, 0, NULL) == 0 &&
         layout_pages(h, 0, 77, 300, NULL, NULL, starts, 16) == 1,
     "no tickets: one empty page");
  model_release(&m);
}

/* A ticket that does not fit in the columns left starts the next page whole; one taller than
 * a whole page fills it and goes on from page to page. */
static void t_cut(void) {
  model_t m;
  size_t np;
  layout_piece p[16];
  model_init(&m, NULL);
  add(&m, "INV-20231103-0001", T0, kopi, NULL);
  add(&m, "INV-20231103-0002", T0 + 500, kopi, NULL);
  tall(&m, "INV-20231103-0003", T0 + 1000, 30);  /* 35 rows: two columns at 80x24 */
  tall(&m, "INV-20231103-0004", T0 + 2000, 200); /* 222 rows: more than a page */
  layout_ctx c = {&m, NOW, 24, 0};
  int h[4];
  layout_heights(&c, m.disp, m.ndisp, 80, h);
  ok(h[2] == 35 && h[3] == 222, "heights (%d, %d)", h[2], h[3]);
  layout_pos next;
  size_t n = layout_page(h, m.ndisp, (layout_pos){0, 0}, 21, 80, NULL, NULL, p, 16, &next);
  ok(n == 2 && next.idx == 2 && next.row == 0,
     "page 1: two small ones; the two-column one does not fit in the one left (%zu)", n);
  n = layout_page(h, m.ndisp, next, 21, 80, NULL, NULL, p, 16, &next);
  ok(n == 2 && p[0].cont_to && p[1].cont_from && p[0].count == 18 && p[1].count == 17 && p[1].h == 20 &&
         next.idx == 3 && next.row == 0,
     "page 2: it takes two columns (18 + 17 rows); the huge one waits for page 3 (%zu, %d)", n, p[1].h);
  char *s2 = render(&m, 21, 80, 1, 0, &np);
  ok(strstr(s2, "|1 INV-20231103-0003     ||…cont. 1 20231103-0003  |") != NULL,
     "80x24: the continuation's title loses INV- to fit");
  if (!strstr(s2, "…cont. 1 20231103-0003  |")) printf("%s", s2);
  free(s2);
  n = layout_page(h, m.ndisp, next, 21, 80, NULL, NULL, p, 16, &next);
  ok(n == 3 && p[1].cont_from && p[1].cont_to && !p[2].cont_to && p[2].cut == 222 - 18 - 17 - 17 &&
         p[2].h == 21 && next.idx == 3 && next.row == 52,
     "page 3: the huge one fills the page, and goes on on page 4 from its row 52 (%d, %d)", p[2].cut,
     next.row);
  n = layout_page(h, m.ndisp, next, 21, 80, NULL, NULL, p, 16, &next);
  ok(n == 3 && p[0].cont_from && p[0].first == 52 && p[0].count == 17 && p[2].cut == 222 - 52 - 51 &&
         next.row == 103,
     "page 4: it goes on, \"…cont.\" on top (%d %d %d)", p[0].first, p[0].count, p[2].cut);
  layout_pos starts[16];
  np = layout_pages(h, m.ndisp, 21, 80, NULL, NULL, starts, 16);
  ok(np == 7 && starts[6].idx == 3 && starts[6].row == 205, "seven pages: the huge ticket takes five (%zu)",
     np);
  n = layout_page(h, m.ndisp, starts[6], 21, 80, NULL, NULL, p, 16, &next);
  ok(n == 1 && p[0].count == 17 && !p[0].cut && !p[0].cont_to && p[0].h == 20 && next.idx == 4,
     "the last page: its last 17 rows");
  char *s = render(&m, 21, 80, 2, 0, &np);
  ok(np == 7 && strstr(s, "|▼ more · continued →    |") != NULL, "the page's cut is marked (%zu pages)", np);
  free(s);
  model_release(&m);
}

/* A tall ticket is split between lines: never between a line and its modifiers or note, nor
 * after a category heading. */
static void t_keep(void) {
  model_t m;
  layout_piece p[16];
  layout_row rows[256];
  unsigned char keep[256];
  model_init(&m, NULL);
  kds_buf b = KDS_BUF_INIT;
  kds_buf_adds(&b, "[");
  for (int i = 0; i < 30; i++)
    kds_buf_addf(&b, "%s{\"name\":\"Item %d\",\"category\":\"C%d\",\"qty\":1,\"note\":\"note %d\"%s}",
                 i ? "," : "", i + 1, i / 7, i + 1, i % 3 == 0 ? ",\"modifiers\":[\"no ice\"]" : "");
  kds_buf_adds(&b, "]");
  add(&m, "INV-20231103-0001", T0, b.base, NULL);
  kds_buf_release(&b);
  layout_ctx c = {&m, NOW, 24, 0};
  int h[1];
  layout_heights(&c, m.disp, m.ndisp, 80, h);
  size_t nr = layout_ticket_rows(&c, m.disp[0], 1, rows, 256);
  ok(layout_ticket_keeps(&c, m.disp[0], keep, 256) == nr && (size_t)h[0] == nr, "keeps: one per row (%zu)",
     nr);
  ok(!keep[0] && keep[1] && rows[3].kind == LR_ITEM && keep[3] && rows[4].kind == LR_MOD && keep[4] &&
         rows[5].kind == LR_LNOTE && keep[5] && !keep[6],
     "the header block, a category's first line, the note and modifiers stay together");
  layout_keeper k;
  layout_keeper_init(&k, &c, m.disp, 80);
  layout_pos next;
  size_t n = layout_page(h, m.ndisp, (layout_pos){0, 0}, 21, 80, layout_keep, &k, p, 16, &next);
  int clean = n == 3;
  for (size_t i = 0; i < n; i++) {
    int end = p[i].first + p[i].count;
    if (p[i].first > 0 && keep[p[i].first]) clean = 0;                    /* starts inside a block */
    if ((size_t)end < nr && rows[end - 1].kind == LR_CATEGORY) clean = 0; /* a heading alone */
  }
  ok(clean && p[0].count < 18, "no piece starts inside a line's block (%zu pieces, %d rows first)", n,
     p[0].count);
  if (!clean) {
    char *s = render(&m, 21, 80, 0, 0, &n);
    printf("%s", s);
    free(s);
  }
  layout_keeper_release(&k);
  model_release(&m);
}

/* A cancelled ticket stays, marked, for MODEL_LEAVE_MS; then it leaves (SPEC 10.8). */
static void t_cancelled(void) {
  model_t m;
  size_t np;
  fixture(&m);
  cJSON *j = cJSON_Parse(
      "{\"invoice_number\":\"INV-20231103-0002\",\"status\":\"cancelled\","
      "\"created_at\":\"2023-11-03T08:26:41.000Z\",\"updated_at\":\"2030-01-01T00:00:00.000Z\","
      "\"lines\":[]}");
  ok(model_apply(&m, "order-updated", j, NOW - 1000, NULL) == MODEL_REMOVED, "cancelled: removed");
  cJSON_Delete(j);
  ok(m.nvis == 3 && m.ndisp == 4 && m.disp[2]->gone == TG_CANCELLED, "still on screen, marked");
  ok(!model_find(&m, "INV-20231103-0002"), "but no longer open");
  char *s = render(&m, 33, 120, 0, 0, &np);
  ok(strstr(s, "|✗ CANCELLED ✗ stop") && strstr(s, "|CANCELLED"), "the banner and the status");
  free(s);
  cJSON *d = cJSON_Parse("{\"invoice_number\":\"INV-20231103-0004\"}");
  model_apply(&m, "order-deleted", d, NOW, NULL);
  cJSON_Delete(d);
  s = render(&m, 33, 120, 0, 0, &np);
  ok(strstr(s, "|✗ VOID ✗ stop") && strstr(s, "|VOID "), "a voided one: VOID");
  free(s);
  ok(model_tick(&m, NOW + 3000) == 0 && m.ndisp == 4, "kept for a few seconds");
  ok(model_tick(&m, NOW + MODEL_LEAVE_MS) == 2 && m.ndisp == 2 && m.nleaving == 0, "then they leave");
  model_release(&m);
}

/* A station screen: a ticket whose station lines are all done has left that station. */
static void t_station(void) {
  model_t m;
  model_init(&m, "SAUS ASIN");
  add(&m, "INV-20231103-0001", T0, corndog, NULL);
  ok(m.nvis == 0, "its only SAUS ASIN line is done: not on the SAUS ASIN screen");
  add(&m, "INV-20231103-0002", T0 + 1000,
      "[{\"name\":\"Saus Tomat\",\"category\":\"SAUS ASIN\",\"qty\":1},"
      "{\"name\":\"Mie\",\"category\":\"BALUTAN\",\"qty\":1},"
      "{\"name\":\"Saus Manis\",\"category\":\"SAUS ASIN\",\"qty\":1}]",
      NULL);
  int right = m.nvis == 1;
  for (size_t i = 0; right && i < m.vis[0]->nlines; i++) {
    const model_line *l = &m.vis[0]->lines[i];
    right = l->n == (strcmp(l->name, "Saus Tomat") == 0 ? 1
                     : strcmp(l->name, "Mie") == 0      ? 2
                                                        : 3) &&
            l->visible == (strcmp(l->name, "Mie") != 0);
  }
  ok(right, "each line keeps its position in the order's lines (for line-done)");
  model_release(&m);
}

int main(void) {
  setlocale(LC_ALL, "C.UTF-8");
  subtest("card text", t_text);
  subtest("80x24", t_80x24);
  subtest("120x36", t_120x36);
  subtest("200x50 continued", t_200x50_continued);
  subtest("300x80 paging", t_300x80_paging);
  subtest("cut", t_cut);
  subtest("keep", t_keep);
  subtest("cancelled", t_cancelled);
  subtest("station", t_station);
  return done_testing();
}
