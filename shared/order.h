/* order.h: the order model (SPEC 2, 3, 11): lines, the seed-shaped JSON (render and parse),
 * invoice numbers, local timestamps, statuses, the transition table, role rules and the
 * validation of a create request. Pure C (cJSON, no I/O): the server renders with it and
 * the kitchen display parses with it. One header over three files: order.c (the model and
 * validation), order_json.c (render, parse, the REST quoter, the body hash) and
 * order_text.c (text as JavaScript reads it, invoice numbers, dates, times, vocabularies). */
#ifndef KDS_ORDER_H
#define KDS_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct cJSON;

#define ORDER_MAX_LINES 200 /* entries in `items`, before merging (SPEC 11.9) */
#define ORDER_MAX_QTY 999   /* per entry */
#define ORDER_MAX_NOTE 500  /* characters (UTF-16 units, as the reference counts) */
#define ORDER_MAX_NAME 100  /* category and product names */
/* SPEC 10.1, in characters (UTF-16 units, as the note) */
#define ORDER_MAX_TABLE 16
#define ORDER_MAX_CUSTOMER 64
#define ORDER_MAX_LINE_NOTE 140
#define ORDER_MAX_MODIFIERS 10
#define ORDER_MAX_MODIFIER 40
/* 2^53 - 1, the largest integer every JSON reader (JavaScript's Number) keeps exactly: no
 * price, subtotal, category total or order total may exceed it (SPEC 11.23). */
#define ORDER_MAX_AMOUNT INT64_C(9007199254740991)
#define ORDER_DEFAULT_OUTLET 1 /* where orders of users without an outlet go (SPEC 11.3) */
#define ORDER_LIST_DEFAULT 100
#define ORDER_LIST_MAX 1000
#define ORDER_INVOICE_SIZE 40 /* "INV-YYYYMMDD-" + up to 20 digits + NUL */
#define ORDER_DATE_SIZE 11    /* "YYYY-MM-DD" + NUL */
#define ORDER_TIME_SIZE 40    /* "YYYY-MM-DDTHH:MM:SS.mmm+07:00" + NUL, with room */

/* One line of an order: a product and its exact quantity, with the product's name,
 * category and price copied at order time (later menu edits never rewrite history). */
typedef struct order_line {
  int64_t product_id;
  char *name;            /* owned */
  int64_t category_id;   /* groups lines; parsed orders number categories by key order */
  char *category;        /* owned */
  int64_t category_sort; /* display order of the category (then category_id) */
  int64_t qty;
  int64_t price;
  int64_t subtotal; /* qty * price */
  char *note;       /* owned; NULL when there is none (SPEC 10.1) */
  char **modifiers; /* owned array of owned strings; NULL when none */
  size_t nmodifiers;
  int done; /* item-level done (SPEC 10.3) */
} order_line;

/* An order. Fixed strings are NUL-terminated (truncated when a parsed value is longer). */
typedef struct order {
  int64_t id; /* storage id, creation order; 0 when unknown (parsed) */
  char invoice_number[ORDER_INVOICE_SIZE];
  char date[ORDER_DATE_SIZE];
  int64_t total_amount;
  char status[16];
  char created_at[ORDER_TIME_SIZE];
  char updated_at[ORDER_TIME_SIZE];
  char payment_method[16];
  int64_t outlet_id;
  char *note; /* owned; NULL when there is none */
  /* SPEC 10: "" / NULL / 0 when not set (then not rendered) */
  char order_type[16]; /* dine_in | takeaway | delivery */
  char *table;         /* owned */
  char *customer_name; /* owned */
  int rush;
  order_line *lines;
  size_t nlines;
  size_t cap;
} order_t;

/* Embedded lifecycle: init leaves an empty order owning nothing; release frees the
 * lines and the note and leaves the order as after init. release is NULL-safe. */
void order_init(order_t *o);
void order_release(order_t *o);

/* Appends a line (name and category copied; subtotal = qty * price). Returns 0,
 * KDS_ETOOBIG when |qty * price| would exceed ORDER_MAX_AMOUNT, or KDS_ENOMEM (on either
 * error the order is unchanged). */
int order_line_add(order_t *o, int64_t product_id, const char *name, int64_t category_id,
                   const char *category, int64_t category_sort, int64_t qty, int64_t price);

/* Replaces the note with a copy of `note` (NULL or "" clears it). Returns 0 or KDS_ENOMEM. */
int order_set_note(order_t *o, const char *note);

/* Replaces the owned string *dst with a copy of `s` (NULL or "" frees it and leaves NULL):
 * for o->table, o->customer_name, a line's note. Returns 0 or KDS_ENOMEM. */
int order_str_set(char **dst, const char *s);

/* Appends a copy of `m` to the line's modifiers. Returns 0 or KDS_ENOMEM. */
int order_line_add_modifier(order_line *l, const char *m);

/* 1 if two lines carry the same note and the same modifiers in the same order (the merge
 * rule of SPEC 10.1: only such lines of one product are one line). */
int order_line_extras_equal(const order_line *a, const order_line *b);

/* Counts of lines done, for the automatic `ready` (SPEC 10.3). */
size_t order_lines_done(const order_t *o);

/* Checked money arithmetic: *out = a * b (or a + b). Returns 0, or KDS_ETOOBIG when the
 * exact result leaves [-ORDER_MAX_AMOUNT, ORDER_MAX_AMOUNT] (*out is then untouched).
 * Never overflows, whatever the inputs. */
int order_amount_mul(int64_t a, int64_t b, int64_t *out);
int order_amount_add(int64_t a, int64_t b, int64_t *out);

/* Sum of the line subtotals into *out. Returns 0 or KDS_ETOOBIG (past ORDER_MAX_AMOUNT). */
int order_lines_total(const order_t *o, int64_t *out);

/* Appends the order's JSON (SPEC 2, byte-exact key order: invoice_number, date,
 * total_amount, one key per category in display order {quantity, total_amount, items},
 * status, created_at, updated_at, payment_method, outlet_id, note (omitted when empty),
 * lines) to `out`. Returns 0, KDS_ETOOBIG when a category's quantity or total would
 * exceed ORDER_MAX_AMOUNT (an order that did not come through order_validate), or
 * KDS_ENOMEM (out may hold part of it then). */
int order_render(const order_t *o, kds_buf *out);

/* Parses an order in the JSON shape of SPEC 2 (as the server sends it) into `o`, which must
 * be initialised (it is released first). Categories get category_id/category_sort from
 * their key order. Extension keys it does not know are ignored. When `lines` is missing
 * (a seed-only server), one line per category item is synthesised (qty 1, or the
 * category's quantity when it has one item). Returns 0, KDS_EINVAL (not an object or no
 * invoice_number string, or a line whose qty * price is past ORDER_MAX_AMOUNT: `o` is left
 * empty) or KDS_ENOMEM. */
int order_parse(const char *json, size_t len, order_t *o);
int order_from_json(const struct cJSON *obj, order_t *o);

/* ---- invoice numbers, dates, times ----------------------------------------------- */

/* "INV-YYYYMMDD-NNNN" from date "YYYY-MM-DD" and the day's sequence number (>= 1); more
 * than 9999 widens. Returns 0, or KDS_EINVAL if the date is not YYYY-MM-DD or seq < 1. */
int order_invoice_format(char out[ORDER_INVOICE_SIZE], const char *date, int64_t seq);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t order_now_ms(void);

/* Local date "YYYY-MM-DD" and local time "YYYY-MM-DDTHH:MM:SS.mmm+HH:MM" (never "Z";
 * the TZ environment variable decides the zone, as localtime_r does) of `ms`. */
void order_local_date(int64_t ms, char out[ORDER_DATE_SIZE]);
void order_local_iso(int64_t ms, char out[ORDER_TIME_SIZE]);

/* 1 if `s` is exactly YYYY-MM-DD with digits (the shape the listing filter accepts). */
int order_date_shape_ok(const char *s);

/* 1 if `s` has that shape and is a real day of the proleptic Gregorian calendar, years
 * 0001-9999 (2024-02-29 yes; 2023-02-29, 2024-02-30, month 13, day 00 no: SPEC 11.24). */
int order_date_valid(const char *s);

/* ---- vocabularies and rules -------------------------------------------------------- */

/* 1 if `name` is a key of the order object (seed keys, extension keys, and the keys
 * SPEC 10 reserves): a category may not be named like one. */
int order_is_reserved_key(const char *name);

int order_payment_method_valid(const char *s); /* CASH, QRIS, CARD, TRANSFER, EWALLET */
int order_status_valid(const char *s);         /* new, preparing, ready, completed, cancelled */
int order_role_valid(const char *s);           /* admin, cashier, kitchen, display */
int order_type_valid(const char *s);           /* dine_in, takeaway, delivery */

/* 1 if an order in status `from` may move to `to` (SPEC 3 transitions; recalls included). */
int order_transition_ok(const char *from, const char *to);

/* 1 if a user of `role` may set an order to `status` (SPEC 11.1). */
int order_role_may_set(const char *role, const char *status);

/* Human lists for messages: "CASH, QRIS, CARD, TRANSFER, EWALLET" and
 * "new, preparing, ready, completed, cancelled". */
extern const char order_payment_methods_text[];
extern const char order_statuses_text[];

/* Bit of a status in a status set (for list filters); 0 for an unknown status. */
unsigned order_status_bit(const char *s);
/* The status names, indexed by bit position (5 entries). */
extern const char *const order_statuses[5];

/* ---- create request validation ------------------------------------------------------ */

/* A product as the menu knows it, for validation. Strings belong to the lookup and must
 * stay valid until the next lookup call. */
typedef struct order_product {
  int64_t id;
  const char *name;
  int64_t category_id;
  const char *category;
  int64_t category_sort;
  int64_t price;
  int active;
} order_product;

/* Looks up product `id`: returns 1 and fills `out`, 0 when there is none, or a negative
 * error (storage failure). */
typedef int (*order_product_fn)(void *ud, int64_t id, order_product *out);

/* Validates the body of POST /api/v1/orders exactly as the reference does, in its order:
 * payment_method, items (non-empty array, <= 200), then per entry: an object, an existing
 * active product_id, qty 1..999; then note (a string of <= 500 characters, trimmed, empty
 * = none). The same product twice is one line (quantities added). On success fills
 * `o` (initialised by the caller): payment_method, note, lines (priced from the menu),
 * total_amount, and returns 0. A line subtotal or an order total past ORDER_MAX_AMOUNT is
 * a 422 on `items` (SPEC 11.23). On a validation failure fills `err` (422
 * validation_failed with its field) and returns KDS_EREQUEST; a failing lookup returns its error
 * (err untouched); KDS_ENOMEM when out of memory. */
int order_validate(const struct cJSON *body, order_product_fn lookup, void *ud, order_t *o, kds_err *err);

/* sha256 (hex) of `value` in canonical JSON (object keys sorted, no spaces), so that two
 * bodies that differ only in key order hash equally (SPEC 11.8). Returns 0 or KDS_ENOMEM. */
int order_body_hash(const struct cJSON *value, char hex[65]);

/* ---- JSON and text helpers shared with the store -------------------------------------- */

/* Text inside the server is UTF-8 with two additions, so that a C string can carry any
 * JavaScript string the way the reference keeps it: the bytes C0 80 stand for U+0000 (a
 * JSON "\u0000"), and a lone surrogate (a JSON "\ud800" without its pair) is its 3-byte
 * encoding ED A0..BF xx. Both are invalid UTF-8, so input cleaned by order_text_clean
 * (or by the HTTP layer's JSON body check) has them only with that meaning. */

/* Appends `len` bytes of `s` to `out` with invalid UTF-8 replaced by U+FFFD as a WHATWG
 * decoder does (one per maximal subpart, as Node's Buffer.toString), and NUL bytes as
 * C0 80 when `nul_as_c080` (else kept). Returns 0 or KDS_ENOMEM. */
int order_text_clean(kds_buf *out, const char *s, size_t len, int nul_as_c080);

/* Appends `s` (`len` bytes) as a JSON string literal with quotes, as the reference sends
 * text it has stored: C0 80 is "\u0000"; invalid UTF-8 (a lone surrogate's bytes too)
 * becomes U+FFFD per maximal subpart, so the output is always valid JSON. Returns 0 or
 * KDS_ENOMEM. */
int order_json_str(kds_buf *b, const char *s, size_t len);

/* Length in UTF-16 code units, as JavaScript's String.length counts (limits): C0 80 and a
 * lone surrogate are one unit each, as is each U+FFFD of invalid UTF-8. */
size_t order_utf16_len(const char *s);

/* Copies `s` without the leading and trailing whitespace JavaScript's trim() removes,
 * into a new string (free() it). NULL when out of memory. */
char *order_trim_dup(const char *s);

#endif
