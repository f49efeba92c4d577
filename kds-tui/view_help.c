/* view_help.c: the help screen, generated from the request table and the keymap. */
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "ui.h"

#define W(p) ((WINDOW *)(p))

static const char *const legend[] = {
    "",
    "Tickets side by side, one per column: rush first, then the oldest at the left.",
    "Left/Right pick a ticket; Down/Up (j/k, Tab) move the line cursor \"▶\" through its",
    "lines; d marks that line done / not done. On a --station screen Enter marks the",
    "station's lines of the ticket done (the order moves on when every station is done);",
    "--expo shows every line's state and Enter bumps the order.",
    "",
    "On a ticket (every mark is text: --no-color and NO_COLOR lose nothing):",
    "  NEW / PREPARING / READY   its status (also its colour)",
    "  DINE IN T4, TAKEAWAY Budi the order type, table or customer",
    "  mm:ss                     time since the order was placed",
    "  ! mm:ss                   over %d minutes (yellow)",
    "  LATE mm:ss                over %d minutes (red)",
    "  RUSH, !! RUSH !!          a rush order (first in the queue)",
    "  NEW!                      just arrived (the screen beeps)",
    "  UPD!                      its lines or rush just changed",
    "  ✗ CANCELLED ✗ / ✗ VOID ✗  cancelled or voided: stop cooking (it leaves in 5 s)",
    "  ✓ 2x Item, [✓] / [ ]      a done line (dimmed too) / expo: done, not done",
    "  + no mayo, ↳ note         the line's modifiers and note, under it",
    "  » note                    the order's note",
    "  …                         a change was sent, waiting for the server",
    "  …cont. / continued →      a ticket too tall for one column goes on in the next",
    "  double border             the selected ticket",
    "",
    "Keys can be changed in ~/.config/kds/keys: lines like \"bind F5 bump\".",
};

static void help_draw(ui_t *ui, void *vwin, int64_t now_ms) {
  WINDOW *w = W(vwin);
  int rows, cols, y = 0;
  size_t line = 0;
  char label[64];
  (void)now_ms;
  getmaxyx(w, rows, cols);
  mvwhline(w, 0, 0, ' ' | A_REVERSE, cols);
  ui_put(w, y++, 0, "HELP: keys (any key in this list works here; ? or Esc to go back)", cols,
         A_REVERSE | A_BOLD);
  for (int r = 1; r < REQ__COUNT; r++) {
    const char *help = keys_request_help((enum request)r);
    keys_label(ui->keys, (enum request)r, label, sizeof(label));
    if (!help || !label[0]) continue;
    if (line++ < ui->help_top || y >= rows) continue;
    ui_put(w, y, 2, label, 21, A_BOLD);
    ui_put(w, y, 24, help, cols - 24, 0);
    y++;
  }
  for (size_t i = 0; i < sizeof(legend) / sizeof(legend[0]); i++) {
    char buf[160];
    if (line++ < ui->help_top || y >= rows) continue;
    if (strstr(legend[i], "%d"))
      snprintf(buf, sizeof(buf), legend[i],
               (int)((strstr(legend[i], "LATE") ? ui->model->late_ms : ui->model->warn_ms) / 60000));
    else
      snprintf(buf, sizeof(buf), "%s", legend[i]);
    ui_put(w, y++, 2, buf, cols - 2, 0);
  }
}

static int help_request(ui_t *ui, enum request req, int arg, int64_t now_ms) {
  (void)arg;
  (void)now_ms;
  switch (req) {
    case REQ_UP:
      if (ui->help_top) ui->help_top--;
      return 1;
    case REQ_DOWN:
      if (ui->help_top < 60) ui->help_top++;
      return 1;
    case REQ_BACK:
      ui->view = &view_tickets_ops; /* Esc: straight back to the tickets (? returns to the previous view) */
      return 1;
    default:
      return 0;
  }
}

const view_ops view_help_ops = {"help", help_draw, help_request};
