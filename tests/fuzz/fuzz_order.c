/* fuzz_order: order validation and rendering (shared/order.h) with an arbitrary menu. The
 * input starts with the menu: a count byte (0..16 products), then per product its id,
 * category, sort key, price (0..2^53-1, often near the top, as the menu allows), active
 * flag, name and category name (length-prefixed bytes, any content); the rest is the request body
 * (JSON). A body that validates becomes an order that is rendered; the render must be valid
 * JSON that order_parse reads back with the same lines and total. Money is checked (SPEC
 * 11.23): an accepted order has every subtotal and its total <= 2^53-1, and UBSan aborts
 * on integer overflow (qty * price, merged quantities, the totals). SPEC 10: an accepted order
 * has at most 10 modifiers a line, none empty or with a control character, no two lines of
 * one product with the same note and modifiers (the merge rule), and its context, notes,
 * modifiers and rush survive the render/parse round trip. */
#include <cjson/cJSON.h>
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "order.h"
#include "../unit/order_fixture.h"

#define MENU_MAX 16
#define NAME_MAX_LEN 24

typedef struct menu_item {
  order_product p;
  char name[NAME_MAX_LEN + 1];
  char category[NAME_MAX_LEN + 1];
} menu_item;

typedef struct menu {
  menu_item items[MENU_MAX];
  size_t n;
} menu;

static void take_name(fuzz_in *in, char *out) {
  const uint8_t *b;
  size_t len = fuzz_bytes(in, fuzz_u8(in) % (NAME_MAX_LEN + 1), &b);
  memcpy(out, b, len);
  out[len] = '\0'; /* a NUL inside just ends the name, as a C string from the store would */
}

#define MONEY_MAX 9007199254740991LL /* 2^53-1: the menu refuses higher prices (SPEC 11.23) */

/* A price the menu can hold, 0..2^53-1, often at the top of the range. */
static int64_t take_price(fuzz_in *in) {
  unsigned kind = fuzz_u8(in);
  uint64_t raw = fuzz_u64(in);
  switch (kind % 4) {
    case 0:
      return (int64_t)(raw % 100000); /* an ordinary price */
    case 1:
      return (int64_t)(raw % ((uint64_t)MONEY_MAX + 1));
    case 2:
      return MONEY_MAX - (int64_t)(raw % 1000);
    default:
      return (int64_t)(raw >> 11); /* uniform over 0..2^53-1 */
  }
}

static int menu_lookup(void *ud, int64_t id, order_product *out) {
  menu *m = ud;
  for (size_t i = 0; i < m->n; i++) {
    if (m->items[i].p.id == id) {
      *out = m->items[i].p;
      return 1;
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  menu m;
  order_t o, back;
  kds_err err;
  kds_buf out = KDS_BUF_INIT;
  cJSON *body;
  char hex[65];
  int rc;

  memset(&m, 0, sizeof(m));
  m.n = fuzz_u8(&in) % (MENU_MAX + 1);
  for (size_t i = 0; i < m.n; i++) {
    menu_item *it = &m.items[i];
    unsigned idk = fuzz_u8(&in);
    it->p.id = idk < 250 ? (int64_t)(idk % 20) : (int64_t)fuzz_u64(&in);
    it->p.category_id = fuzz_u8(&in) % 8;
    it->p.category_sort = (int8_t)fuzz_u8(&in);
    it->p.price = take_price(&in);
    it->p.active = (fuzz_u8(&in) & 7) != 0;
    take_name(&in, it->name);
    take_name(&in, it->category);
    /* The menu refuses categories named like order keys ("lines", "note", ...): they would
     * collide with the render's own keys; keep them but make them distinct. */
    if (order_is_reserved_key(it->category)) memcpy(it->category, "x:", 2);
    it->p.name = it->name;
    it->p.category = it->category;
  }

  body = cJSON_ParseWithLength((const char *)in.p, in.n);
  if (body == NULL) return 0;
  if (order_body_hash(body, hex) == 0) fuzz_check(strlen(hex) == 64, "body hash: 64 hex digits");
  order_init(&o);
  kds_err_clear(&err);
  rc = order_validate(body, menu_lookup, &m, &o, &err);
  fuzz_check(rc == 0 || rc == KDS_EREQUEST, "validate: 0 or a validation failure");
  if (rc == KDS_EREQUEST)
    fuzz_check(err.status == 422 && err.field[0] != '\0', "validation failure: 422 with a field");
  if (rc == 0) {
    fuzz_check(o.nlines >= 1 && o.nlines <= ORDER_MAX_LINES, "valid order: 1..200 lines");
    int64_t sum = -1;
    fuzz_check(order_lines_total(&o, &sum) == 0 && o.total_amount == sum, "total == sum of lines");
    fuzz_check(o.total_amount >= 0 && o.total_amount <= MONEY_MAX, "accepted order: total <= 2^53-1");
    for (size_t i = 0; i < o.nlines; i++) {
      fuzz_check(o.lines[i].qty >= 1 && o.lines[i].subtotal == o.lines[i].qty * o.lines[i].price,
                 "line: subtotal == qty * price");
      fuzz_check(o.lines[i].subtotal <= MONEY_MAX, "accepted order: subtotal <= 2^53-1");
    }
    for (size_t i = 0; i < o.nlines; i++) {
      const order_line *l = &o.lines[i];
      fuzz_check(l->nmodifiers <= ORDER_MAX_MODIFIERS, "at most 10 modifiers");
      for (size_t k = 0; k < l->nmodifiers; k++) {
        fuzz_check(l->modifiers[k][0] != '\0', "no empty modifier");
        for (const unsigned char *c = (const unsigned char *)l->modifiers[k]; *c; c++)
          fuzz_check(*c >= 0x20 && *c != 0x7f, "no control character in a modifier");
      }
      fuzz_check(l->note == NULL || l->note[0] != '\0', "a line note is NULL or not empty");
      for (size_t j = 0; j < i; j++)
        fuzz_check(o.lines[j].product_id != l->product_id || !order_line_extras_equal(&o.lines[j], l),
                   "merge rule: equal extras of one product are one line");
    }
    fuzz_check(o.order_type[0] == '\0' || order_type_valid(o.order_type), "order_type from the vocabulary");
    order_fixture_header(&o);
    fuzz_check(order_render(&o, &out) == 0, "render");
    cJSON *again = cJSON_ParseWithLength(out.base, out.len);
    fuzz_check(again != NULL && cJSON_IsObject(again), "render: valid JSON object");
    cJSON_Delete(again);
    order_init(&back);
    fuzz_check(order_parse(out.base, out.len, &back) == 0, "render: order_parse reads it");
    fuzz_check(back.nlines == o.nlines && back.total_amount == o.total_amount &&
                   strcmp(back.invoice_number, o.invoice_number) == 0,
               "render/parse round trip: lines and total");
    fuzz_check(strcmp(back.order_type, o.order_type) == 0 && back.rush == o.rush &&
                   (back.table == NULL) == (o.table == NULL) &&
                   (back.customer_name == NULL) == (o.customer_name == NULL),
               "round trip: order context");
    for (size_t i = 0; i < o.nlines && back.nlines == o.nlines; i++)
      fuzz_check(back.lines[i].nmodifiers == o.lines[i].nmodifiers &&
                     (back.lines[i].note == NULL) == (o.lines[i].note == NULL),
                 "round trip: line note and modifiers");
    order_release(&back);
  }
  order_release(&o);
  kds_buf_release(&out);
  cJSON_Delete(body);
  return 0;
}
