/* ui.h: the curses screen: a header (server, connection state, open count, average ticket
 * time, clock), one view in the body (tickets, all-day or help: a table of operations each,
 * as tig's view_ops), a status line for what happened (a refused bump...) and a footer of keys.
 * The ui reads the model and never talks to the network: actions go out through ui_actions.
 * One frame = wnoutrefresh of each window + one doupdate. */
#ifndef KDS_TUI_UI_H
#define KDS_TUI_UI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "keys.h"
#include "model.h"

typedef struct ui ui_t;

/* The connection state shown in the header. */
enum ui_conn { UI_CONNECTING, UI_LOADING, UI_LIVE, UI_RECONNECTING, UI_OFFLINE };

/* What the ui asks the application to do. */
typedef struct ui_actions {
  /* Change a ticket's status from `from` to `to`; `bump` says whether it goes on the recall
   * stack when acknowledged. The app reports the outcome with ui_message. */
  void (*set_status)(void *ud, const char *invoice, enum ticket_status from, enum ticket_status to, int bump);
  /* Mark line `n` (1-based, SPEC 10.3) of `invoice` done or not done (line-done with its ack). */
  void (*line_done)(void *ud, const char *invoice, int64_t n, int done);
  /* Recall the newest order of the server's recall list (SPEC 10.4). */
  void (*recall)(void *ud);
  /* Fetch the server's recall list into ui->recall and open the recall view (R). */
  void (*recall_list)(void *ud);
  /* Bring `invoice`, now `status` (ready or completed), back one step. */
  void (*recall_pick)(void *ud, const char *invoice, enum ticket_status status);
  /* Leave the program. */
  void (*quit)(void *ud);
} ui_actions;

/* A view: draw the body window, and handle a request first (return 1 if handled; the
 * generic handler runs otherwise). */
typedef struct view_ops {
  const char *name;
  void (*draw)(ui_t *ui, void *win, int64_t now_ms);
  int (*request)(ui_t *ui, enum request req, int arg, int64_t now_ms);
} view_ops;

extern const view_ops view_tickets_ops;
extern const view_ops view_allday_ops;
extern const view_ops view_help_ops;
extern const view_ops view_recall_ops;

#define UI_RECALL_MAX 20 /* the server's list holds 20 at most (SPEC 10.4) */

/* The header's figures of the day from GET /api/v1/stats (exact, for every screen of the
 * outlet); `have` 0 until the server answered (then the header shows this screen's own). */
typedef struct ui_stats {
  int have;
  double avg_s, p90_s; /* < 0: no ticket yet today */
  long count, late;
} ui_stats;

/* One order of the server's recall list, as the recall view shows it. */
typedef struct ui_recall_item {
  char invoice[48];
  enum ticket_status status; /* ready or completed */
  char at[16];               /* when it was bumped, HH:MM:SS local */
  char what[128];            /* its context and first lines */
} ui_recall_item;

enum ui_msg_level { UI_INFO, UI_OK, UI_ERROR };

#define UI_HIGHLIGHT_MS 6000 /* a new ticket stands out this long */

struct ui {
  model_t *model; /* not owned */
  keys_t *keys;   /* not owned */
  const ui_actions *act;
  void *ud;

  char server[128]; /* as shown in the header */
  char station[64]; /* --station, shortened */
  enum ui_conn conn;
  int64_t retry_at_ms; /* UI_RECONNECTING: when the next attempt is */
  char conn_detail[96];

  int color;    /* colours in use (0: --no-color, NO_COLOR, or a terminal without) */
  int expo;     /* --expo: every line with its done state; Enter bumps the order */
  int bell;     /* ring for new tickets */
  int bell_due; /* ring at the next frame */
  int active;   /* curses is up */

  const view_ops *view;
  const view_ops *back; /* the view the help screen returns to */
  char sel[48];         /* selected ticket's invoice ("" = none) */
  size_t sel_idx;       /* its index among visible tickets, kept when it leaves */
  size_t page_first;    /* index of the first ticket on the page shown */
  int page_row;         /* its first content row there (> 0: it goes on from the page before) */
  size_t page_no, page_count;
  int line_sel;      /* the line cursor in the selected ticket: index into its lines, -1 none */
  char line_inv[48]; /* the ticket the line cursor is in (it resets when the selection moves) */
  size_t allday_top; /* scroll of the all-day view */
  size_t help_top;

  /* The tickets on screen, in number order, for 1-9 (set by the tickets view's draw). */
  char shown[9][48];
  size_t nshown;

  char msg[256];
  enum ui_msg_level msg_level;
  int64_t msg_until_ms;

  int rows, cols;
  void *hdr, *body, *foot; /* WINDOW *, kept opaque so this header needs no curses.h */
  void *screen;            /* SCREEN * from newterm */
  int tty_fd;              /* the terminal curses writes to (for its size) */

  ui_stats stats; /* the header's figures of the day */
  int live_only;  /* the server has no order listing: live events only (SPEC 5.1) */
  ui_recall_item recall[UI_RECALL_MAX];
  size_t nrecall, recall_sel;
  int recall_loading; /* the recall view waits for the server's list */
};

/* Sets up `ui` (does not start curses). Returns 0. */
int ui_init(ui_t *ui, model_t *model, keys_t *keys, const ui_actions *act, void *ud);

/* Starts curses on the terminal: output to `out` (a stream on the terminal, so that stdout
 * itself can be sent elsewhere), keys from `in` (stdin; a pty in tests); cbreak, no echo,
 * keypad, colours if the terminal has them and `color` is set. Returns 0 or KDS_EINVAL if
 * the terminal cannot be used (not a tty, unknown TERM). */
int ui_start(ui_t *ui, int color, FILE *out, FILE *in);

/* Ends curses and restores the terminal. Idempotent. */
void ui_stop(ui_t *ui);

/* The terminal changed size (SIGWINCH): re-reads it and rebuilds the windows. */
void ui_resize(ui_t *ui);

/* Reads and handles every pending key (non-blocking). */
void ui_input(ui_t *ui, int64_t now_ms);

/* Handles one request: the view's handler first, then the generic one. */
void ui_request(ui_t *ui, enum request req, int arg, int64_t now_ms);

/* Draws a frame and rings the bell if one is due. */
void ui_draw(ui_t *ui, int64_t now_ms);

/* Shows a line on the status line for a while (errors longer). printf-formatted. */
void ui_message(ui_t *ui, enum ui_msg_level level, int64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Asks for the bell at the next frame (no-op when the bell is off). */
void ui_ring(ui_t *ui);

/* ---- helpers shared by the views (ui.c) --------------------------------------------------- */

/* Display columns of UTF-8 text `s` (at most `maxbytes` bytes; -1: to the NUL). */
int ui_text_width(const char *s, int maxbytes);

/* How many bytes of `s` fit in `cols` columns (never splitting a character); `*used` (may be
 * NULL) gets the columns they take. */
size_t ui_text_fit(const char *s, int cols, int *used);

/* Writes `s` at (y, x) of `win` in at most `cols` columns with attributes `attr`. Returns
 * the columns written. */
int ui_put(void *win, int y, int x, const char *s, int cols, unsigned long attr);

/* Colour attributes by role (0 when colours are off). */
enum ui_color {
  UC_NONE,
  UC_ST_NEW,
  UC_ST_PREPARING,
  UC_ST_READY,
  UC_AGE_WARN,
  UC_AGE_LATE,
  UC_CATEGORY,
  UC_LIVE,
  UC_WAIT,
  UC_DOWN,
  UC_ERROR,
  UC_OK,
  UC_HEADER,
  UC_HILITE,
  UC_NOTE,
  UC__COUNT
};
unsigned long ui_color(const ui_t *ui, enum ui_color c);

/* Copies src into dst[size], cut at a UTF-8 character boundary when too long. */
void ui_copy(char *dst, size_t size, const char *src);

/* mm:ss (or h:mm:ss past an hour) of a duration in ms into out[16]. */
const char *ui_fmt_age(int64_t ms, char out[16]);

#endif
