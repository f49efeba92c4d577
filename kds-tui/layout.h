/* layout.h: the tickets view's geometry and card text, with no curses (SPEC 5.1): tickets side
 * by side, one per column, oldest (rush first) at the left; a ticket taller than the body
 * goes on in the next column, marked as continued; pages when they do not all fit. The view
 * (view_tickets.c) draws what this module computes, and tests compare it as plain text. */
#ifndef KDS_TUI_LAYOUT_H
#define KDS_TUI_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define LAYOUT_CARD_MIN_W 26 /* a card's width at least (80 columns: three cards) */
#define LAYOUT_MIN_ROWS 5    /* a body with fewer rows shows no card */
#define LAYOUT_TEXT 200      /* bytes of one row's text */

/* What a content row of a card is (the view picks its attributes from it). */
enum layout_row_kind {
  LR_TITLE,    /* "1 INV-20231103-0001" + marks at the right (RUSH, NEW!, UPD!, …) */
  LR_STATUS,   /* status and order context ("PREPARING DINE IN T4") + age at the right */
  LR_CONTEXT,  /* the context on its own row when it does not fit on the status row */
  LR_BANNER,   /* "✗ CANCELLED ✗" / "✗ VOID ✗" (SPEC 10.8), "!! RUSH !!" (10.2) */
  LR_CATEGORY, /* a category heading */
  LR_ITEM,     /* a line ("2x Corndog Sosis"; wrapped names take more than one row) */
  LR_MOD,      /* one of the line's modifiers, under it */
  LR_LNOTE,    /* the line's note, under it */
  LR_HIDDEN,   /* "(+N for other stations)" */
  LR_NOTE      /* the order's note */
};

typedef struct layout_row {
  enum layout_row_kind kind;
  int line; /* LR_ITEM, LR_MOD, LR_LNOTE: index into the ticket's lines; else -1 */
  int done; /* that line is done */
  char text[LAYOUT_TEXT];
  char right[32]; /* right-aligned on the row (may be "") */
} layout_row;

/* What the card text depends on besides the ticket. */
typedef struct layout_ctx {
  const model_t *m; /* age thresholds and clock skew (may be NULL: ages shown, never late) */
  int64_t now_ms;
  int inner_w; /* columns inside the card's border */
  int expo;    /* --expo: every line with its done state ("[✓]" / "[ ]") and the count done */
} layout_ctx;

/* The content rows of ticket `t` (`number` 1-9 on its title, 0 none) into out[max]; rows
 * past `max` are counted, not written (`out` NULL: only counts). Returns the row count. */
size_t layout_ticket_rows(const layout_ctx *c, const ticket_t *t, int number, layout_row *out, size_t max);

/* Which rows of ticket `t` must stay in the same column as the row before (keep[r] = 1): the
 * header block, a line's modifiers and note, the rest of a wrapped text, a category's first
 * line (so that a heading is never alone at the bottom). Writes keep[0..max), returns the row
 * count (as layout_ticket_rows). */
size_t layout_ticket_keeps(const layout_ctx *c, const ticket_t *t, unsigned char *keep, size_t max);

/* The top row of a continuation piece: "…cont. " + the ticket's title text (its first row),
 * the invoice without "INV-" when `w` columns are too few, into out[size]. */
void layout_cont_title(const layout_row *title, int w, char *out, size_t size);

/* The columns of a body `cols` wide and the width of each (`*colw`, may be NULL). At least 1. */
int layout_columns(int cols, int *colw);

/* One card's box on the page: a ticket, or a piece of one that is taller than the body. */
typedef struct layout_piece {
  size_t idx;     /* index of the ticket in the list laid out */
  int col;        /* column on the page, 0 at the left */
  int x, y, w, h; /* the box in the body, border included */
  int first;      /* the ticket's first content row in this piece */
  int count;      /* content rows in it */
  int cont_from;  /* it goes on from the previous column or page: a "…cont." row on top */
  int cont_to;    /* it goes on in the next column: a "▼ more · continued →" row at the bottom */
  int cut;        /* the page ends inside the ticket: rows left for the next page ("▼ +N ...") */
} layout_piece;

/* Where a page starts: a ticket, and its first content row on that page (0 but for a ticket
 * taller than a whole page, which goes on from page to page). */
typedef struct layout_pos {
  size_t idx;
  int row;
} layout_pos;

/* Lays out the page that starts at `first` in a list whose tickets need heights[i] content
 * rows, in a body of rows x cols: one ticket per column, left to right; a ticket too tall for
 * one column takes the next ones too (split where `keep` (may be NULL: anywhere) allows), or starts the next
 * page when they are not left; one that is first on its page and does not end on it fills the page and goes
 * on on the next. Writes at most `max` pieces to `out` (may be NULL: counts) and where the next page starts
 * to `*next` (idx n when this is the last page; may be NULL). Returns the pieces on the page
 * (0: nothing left, or the body is too small for a card). */
/* Asked where a tall ticket is split: may a column start at row `row` of ticket `idx`?
 * Returns 1 when that row must stay with the one before it. */
typedef int (*layout_keep_fn)(void *ud, size_t idx, int row);

size_t layout_page(const int *heights, size_t n, layout_pos first, int rows, int cols, layout_keep_fn keep,
                   void *ud, layout_piece *out, size_t max, layout_pos *next);

/* Where each page starts into starts[max] (starts[0] = {0, 0}, also for an empty list).
 * Returns the page count (>= 1). */
size_t layout_pages(const int *heights, size_t n, int rows, int cols, layout_keep_fn keep, void *ud,
                    layout_pos *starts, size_t max);

/* A layout_keep_fn over a ticket list (layout_ticket_keeps of one ticket at a time, cached):
 * init with the card text's context and the body width; release frees the cache. */
typedef struct layout_keeper {
  layout_ctx ctx; /* at the card width */
  ticket_t *const *list;
  size_t idx; /* the ticket cached ((size_t)-1: none) */
  unsigned char *keep;
  size_t n, cap;
} layout_keeper;
void layout_keeper_init(layout_keeper *k, const layout_ctx *c, ticket_t *const *list, int cols);
void layout_keeper_release(layout_keeper *k);
int layout_keep(void *keeper, size_t idx, int row);

/* heights[i] for list[0..n) at the card width of a body `cols` wide (see layout_ticket_rows). */
void layout_heights(const layout_ctx *c, ticket_t *const *list, size_t n, int cols, int *heights);

#endif
