/* view_recall.c: the recall list (R, SPEC 5.1 and 10.4): the orders bumped in the last 30
 * minutes on any screen of the outlet, newest first, as the server keeps them; pick one to
 * bring it back one step (ready -> preparing, completed -> ready). */
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "ui.h"

#define W(p) ((WINDOW *)(p))

static void recall_draw(ui_t *ui, void *vwin, int64_t now_ms) {
  WINDOW *w = W(vwin);
  int rows, cols, y = 2;
  char buf[256];
  (void)now_ms;
  getmaxyx(w, rows, cols);
  mvwhline(w, 0, 0, ' ' | A_REVERSE, cols);
  ui_put(w, 0, 0,
         "RECALL: bumped in the last 30 minutes, newest first (Enter or 1-9 brings one back; R or Esc: back)",
         cols, A_REVERSE | A_BOLD);
  if (ui->recall_loading) {
    ui_put(w, y, 2, "Asking the server…", cols - 2, A_BOLD);
    return;
  }
  if (ui->nrecall == 0) {
    ui_put(w, y, 2, "Nothing to recall: no ticket was bumped in the last 30 minutes", cols - 2, A_BOLD);
    return;
  }
  if (ui->recall_sel >= ui->nrecall) ui->recall_sel = ui->nrecall - 1;
  for (size_t i = 0; i < ui->nrecall && y < rows; i++, y++) {
    const ui_recall_item *it = &ui->recall[i];
    unsigned long attr = i == ui->recall_sel ? A_REVERSE | A_BOLD : 0;
    /* the marker says it without the reverse video (monochrome, --no-color) */
    snprintf(buf, sizeof(buf), "%c %zu  %-8s  %-20s %-9s -> %-9s  %s", i == ui->recall_sel ? '>' : ' ', i + 1,
             it->at, it->invoice, model_status_label(it->status),
             model_status_label(it->status == TS_COMPLETED ? TS_READY : TS_PREPARING), it->what);
    mvwhline(w, y, 0, ' ' | (chtype)attr, cols);
    ui_put(w, y, 0, buf, cols, attr);
  }
}

static void pick(ui_t *ui, size_t i) {
  if (i >= ui->nrecall || !ui->act || !ui->act->recall_pick) return;
  ui->view = &view_tickets_ops; /* back to the tickets, where the recalled one shows up */
  ui->act->recall_pick(ui->ud, ui->recall[i].invoice, ui->recall[i].status);
}

static int recall_request(ui_t *ui, enum request req, int arg, int64_t now_ms) {
  (void)now_ms;
  switch (req) {
    case REQ_UP:
    case REQ_LEFT:
      if (ui->recall_sel) ui->recall_sel--;
      return 1;
    case REQ_DOWN:
    case REQ_RIGHT:
      if (ui->recall_sel + 1 < ui->nrecall) ui->recall_sel++;
      return 1;
    case REQ_BUMP:
    case REQ_START:
      pick(ui, ui->recall_sel);
      return 1;
    case REQ_BUMP_NTH:
      if (arg >= 1) pick(ui, (size_t)arg - 1);
      return 1;
    case REQ_RECALL: /* r here: the newest, as everywhere */
      pick(ui, 0);
      return 1;
    default:
      return 0;
  }
}

const view_ops view_recall_ops = {"recall", recall_draw, recall_request};
