/* view_allday.c: the all-day view: every item's total quantity over the open tickets shown,
 * by category, split into "to make" (new + preparing) and "ready". */
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"

#define W(p) ((WINDOW *)(p))

static void allday_draw(ui_t *ui, void *vwin, int64_t now_ms) {
  WINDOW *w = W(vwin);
  model_allday_row *r;
  int rows, cols, y = 0;
  char buf[256];
  long n = model_allday(ui->model, &r);
  getmaxyx(w, rows, cols);
  (void)now_ms;
  if (n < 0) {
    ui_put(w, 0, 0, "All-day: out of memory", cols, A_BOLD);
    return;
  }
  /* Numbers go in fixed columns on the right, where the eye finds them from afar. */
  int qx = cols - 16 > 20 ? cols - 16 : 20;
  snprintf(buf, sizeof(buf), "ALL DAY: items on %zu open tickets", ui->model->nvis);
  mvwhline(w, 0, 0, ' ' | A_REVERSE, cols);
  ui_put(w, 0, 0, buf, qx - 1, A_REVERSE | A_BOLD);
  ui_put(w, 0, qx, "TO MAKE  READY", cols - qx, A_REVERSE | A_BOLD);
  y = 1;
  if (n == 0) ui_put(w, 2, 2, "Nothing to make", cols - 2, A_BOLD);
  /* Rows of the listing, category headers included, so that scrolling is by screen row. */
  size_t line = 0;
  const char *cat = NULL;
  int first_cat = 1;
  if ((long)ui->allday_top > 0 && ui->allday_top >= (size_t)n * 2) ui->allday_top = 0;
  for (long i = 0; i < n && y < rows; i++) {
    int newcat = first_cat || (r[i].category == NULL) != (cat == NULL) ||
                 (cat && r[i].category && strcmp(cat, r[i].category) != 0);
    first_cat = 0;
    cat = r[i].category;
    if (newcat) {
      if (line++ >= ui->allday_top && y < rows)
        ui_put(w, y++, 0, r[i].category ? r[i].category : "(no category)", cols,
               ui_color(ui, UC_CATEGORY) | A_BOLD | A_UNDERLINE);
    }
    if (line++ < ui->allday_top || y >= rows) continue;
    ui_put(w, y, 2, r[i].name, qx - 3, A_BOLD);
    snprintf(buf, sizeof(buf), "%7ld  %5ld", r[i].todo, r[i].ready);
    ui_put(w, y, qx, buf, cols - qx, A_BOLD);
    y++;
  }
  free(r);
}

static int allday_request(ui_t *ui, enum request req, int arg, int64_t now_ms) {
  (void)arg;
  (void)now_ms;
  switch (req) {
    case REQ_UP:
    case REQ_PAGE_PREV:
      ui->allday_top =
          ui->allday_top > (req == REQ_UP ? 1u : 10u) ? ui->allday_top - (req == REQ_UP ? 1 : 10) : 0;
      return 1;
    case REQ_DOWN:
    case REQ_PAGE_NEXT:
      ui->allday_top += req == REQ_DOWN ? 1 : 10;
      return 1;
    case REQ_LEFT:
    case REQ_RIGHT:
      return 1;
    default:
      return 0;
  }
}

const view_ops view_allday_ops = {"all-day", allday_draw, allday_request};
