/* Unit tests for shared/order.c and order_json.c: JSON shape and key order, grouping, parse
 * round trip, validation, money limits, hashes (invoice numbers, times and vocabularies are
 * test_order_text.c's). */
#include "test.h"

#include <cjson/cJSON.h>
#include <time.h>

#include "order.h"
#include "order_fixture.h"

/* The demo menu (SPEC 7) as a lookup table. */
static const order_product menu[] = {
    {1, "Corndog Sosis", 1, "ISI CORNDOG", 1, 6000, 1},
    {2, "Corndog Mozzarella", 1, "ISI CORNDOG", 1, 8000, 1},
    {3, "Mie", 2, "BALUTAN", 2, 2000, 1},
    {4, "Kentang", 2, "BALUTAN", 2, 3000, 1},
    {5, "Saus Tomat", 3, "SAUS ASIN", 3, 1000, 1},
    {6, "Mayonaise", 3, "SAUS ASIN", 3, 1000, 1},
    {7, "Coklat", 4, "SAUS MANIS", 4, 1000, 1},
    {8, "Susu Kental Manis", 4, "SAUS MANIS", 4, 1000, 0},
};

static int lookups;

static int menu_lookup(void *ud, int64_t id, order_product *out) {
  (void)ud;
  lookups++;
  for (size_t i = 0; i < sizeof(menu) / sizeof(menu[0]); i++) {
    if (menu[i].id == id) {
      *out = menu[i];
      return 1;
    }
  }
  return 0;
}

static int failing_lookup(void *ud, int64_t id, order_product *out) {
  return KDS_EDB;
}

/* Validates `json` against the demo menu; returns the rc, fills o and err. */
static int validate(const char *json, order_t *o, kds_err *err) {
  cJSON *body = cJSON_Parse(json);
  int rc;
  order_release(o);
  kds_err_clear(err);
  if (!body) return 99;
  rc = order_validate(body, menu_lookup, NULL, o, err);
  cJSON_Delete(body);
  return rc;
}

static void t_seed_shape(void) {
  order_t o;
  kds_err err;
  kds_buf b = KDS_BUF_INIT;
  order_init(&o);
  /* The seed's example, ordered with the sauce first to check that categories sort by
   * display order, not by order of appearance. */
  int rc = validate(
      "{\"payment_method\":\"CASH\",\"note\":\"  no onion \",\"items\":[{\"product_id\":7,\"qty\":1},"
      "{\"product_id\":5,\"qty\":1},{\"product_id\":1,\"qty\":1},{\"product_id\":3,\"qty\":1},"
      "{\"product_id\":6,\"qty\":1}]}",
      &o, &err);
  ok(rc == 0, "the seed order validates (%s)", err.message);
  order_fixture_header(&o);
  ok(order_render(&o, &b) == 0, "renders");
  const char *want =
      "{\"invoice_number\":\"INV-20231103-0001\",\"date\":\"2023-11-03\",\"total_amount\":11000,"
      "\"ISI CORNDOG\":{\"quantity\":1,\"total_amount\":6000,\"items\":[\"Corndog Sosis\"]},"
      "\"BALUTAN\":{\"quantity\":1,\"total_amount\":2000,\"items\":[\"Mie\"]},"
      "\"SAUS ASIN\":{\"quantity\":2,\"total_amount\":2000,\"items\":[\"Saus Tomat\",\"Mayonaise\"]},"
      "\"SAUS MANIS\":{\"quantity\":1,\"total_amount\":1000,\"items\":[\"Coklat\"]},"
      "\"status\":\"new\",\"created_at\":\"2023-11-03T10:15:02.123+07:00\","
      "\"updated_at\":\"2023-11-03T10:15:02.123+07:00\",\"payment_method\":\"CASH\",\"outlet_id\":1,"
      "\"note\":\"no onion\",\"lines\":["
      "{\"product_id\":7,\"name\":\"Coklat\",\"category\":\"SAUS "
      "MANIS\",\"qty\":1,\"price\":1000,\"subtotal\":1000},"
      "{\"product_id\":5,\"name\":\"Saus Tomat\",\"category\":\"SAUS "
      "ASIN\",\"qty\":1,\"price\":1000,\"subtotal\":1000},"
      "{\"product_id\":1,\"name\":\"Corndog Sosis\",\"category\":\"ISI "
      "CORNDOG\",\"qty\":1,\"price\":6000,\"subtotal\":6000},"
      "{\"product_id\":3,\"name\":\"Mie\",\"category\":\"BALUTAN\",\"qty\":1,\"price\":2000,\"subtotal\":"
      "2000},"
      "{\"product_id\":6,\"name\":\"Mayonaise\",\"category\":\"SAUS "
      "ASIN\",\"qty\":1,\"price\":1000,\"subtotal\":1000}]}";
  ok(b.base && strcmp(b.base, want) == 0, "byte-exact seed shape");
  if (b.base && strcmp(b.base, want) != 0) printf("# got  %s\n# want %s\n", b.base, want);

  /* parse it back, render again: the same bytes (category order from key order) */
  order_t p;
  order_init(&p);
  ok(order_parse(b.base, b.len, &p) == 0, "parses its own output");
  kds_buf b2 = KDS_BUF_INIT;
  ok(order_render(&p, &b2) == 0 && b2.base && strcmp(b2.base, b.base) == 0, "parse + render round-trips");
  ok(p.nlines == 5 && p.lines[2].qty == 1 && strcmp(p.lines[2].category, "ISI CORNDOG") == 0, "parsed lines");
  ok(p.note && strcmp(p.note, "no onion") == 0 && p.outlet_id == 1 && p.total_amount == 11000,
     "parsed header");
  kds_buf_release(&b2);
  order_release(&p);
  kds_buf_release(&b);
  order_release(&o);
}

static void t_grouping(void) {
  order_t o;
  kds_err err;
  kds_buf b = KDS_BUF_INIT;
  order_init(&o);
  /* qty > 1, the same product twice (merged), two products of one category */
  ok(validate(
         "{\"payment_method\":\"QRIS\",\"items\":[{\"product_id\":1,\"qty\":2},{\"product_id\":2,\"qty\":1},"
         "{\"product_id\":1,\"qty\":3}]}",
         &o, &err) == 0,
     "validates");
  ok(o.nlines == 2 && o.lines[0].qty == 5 && o.lines[0].subtotal == 30000, "same product merged: 5 x 6000");
  ok(o.total_amount == 38000, "total 38000");
  order_fixture_header(&o);
  order_render(&o, &b);
  ok(strstr(b.base,
            "\"total_amount\":38000,\"ISI CORNDOG\":{\"quantity\":6,\"total_amount\":38000,"
            "\"items\":[\"Corndog Sosis\",\"Corndog Mozzarella\"]},\"status\"") != NULL,
     "one category: quantity 6, total 38000, distinct items");
  ok(strstr(b.base, "\"note\"") == NULL, "no note key when there is none");
  kds_buf_release(&b);

  /* many categories, appearing out of display order, with a tie on sort resolved by id */
  order_release(&o);
  order_line_add(&o, 10, "B", 20, "CAT20", 5, 1, 100);
  order_line_add(&o, 11, "A", 10, "CAT10", 5, 2, 100);
  order_line_add(&o, 12, "Z", 30, "CAT30", 1, 1, 100);
  order_line_add(&o, 13, "A2", 10, "CAT10", 5, 1, 50);
  order_fixture_header(&o);
  ok(order_lines_total(&o, &o.total_amount) == 0, "lines total");
  order_render(&o, &b);
  const char *c30 = strstr(b.base, "\"CAT30\""), *c10 = strstr(b.base, "\"CAT10\""),
             *c20 = strstr(b.base, "\"CAT20\"");
  ok(c30 && c10 && c20 && c30 < c10 && c10 < c20, "categories by sort, then id");
  ok(strstr(b.base, "\"CAT10\":{\"quantity\":3,\"total_amount\":250,\"items\":[\"A\",\"A2\"]}") != NULL,
     "CAT10 groups its two lines");
  ok(o.total_amount == 450, "total is the sum of the lines");
  /* more groups than the renderer's stack array */
  order_release(&o);
  for (int i = 0; i < 40; i++) {
    char name[16];
    snprintf(name, sizeof(name), "C%02d", 39 - i);
    order_line_add(&o, i + 1, name, 39 - i, name, 39 - i, 1, 1);
  }
  order_fixture_header(&o);
  kds_buf_reset(&b);
  ok(order_render(&o, &b) == 0, "40 categories render");
  ok(strstr(b.base, "\"C00\"") < strstr(b.base, "\"C01\"") &&
         strstr(b.base, "\"C38\"") < strstr(b.base, "\"C39\""),
     "40 categories in order");
  cJSON *j = cJSON_Parse(b.base);
  ok(j != NULL && cJSON_GetArraySize(cJSON_GetObjectItem(j, "lines")) == 40, "valid JSON with 40 lines");
  cJSON_Delete(j);
  kds_buf_release(&b);
  order_release(&o);
}

static void t_escaping(void) {
  kds_buf b = KDS_BUF_INIT;
  order_json_str(&b,
                 "a\"b\\c\n\x01\xC3\xA9\xFF"
                 "z",
                 11);
  ok(strcmp(b.base, "\"a\\\"b\\\\c\\n\\u0001\xC3\xA9\xEF\xBF\xBDz\"") == 0,
     "escapes, keeps UTF-8, replaces bad bytes");
  kds_buf_reset(&b);
  order_json_str(&b, "\xF0\x9F\x8D\x94 ok", 7);
  ok(strcmp(b.base, "\"\xF0\x9F\x8D\x94 ok\"") == 0, "4-byte UTF-8 passes through");
  kds_buf_release(&b);
  ok(order_utf16_len("abc") == 3 && order_utf16_len("\xC3\xA9") == 1 &&
         order_utf16_len("\xF0\x9F\x8D\x94") == 2,
     "UTF-16 length as JavaScript counts");
  char *t = order_trim_dup(" \t\xC2\xA0 x y \xE3\x80\x80\n");
  ok(t && strcmp(t, "x y") == 0, "trim removes ASCII and Unicode spaces");
  free(t);
  t = order_trim_dup("   ");
  ok(t && *t == '\0', "trim of spaces is empty");
  free(t);
}

static void t_parse(void) {
  order_t o;
  order_init(&o);
  ok(order_parse("[]", 2, &o) == KDS_EINVAL, "an array is not an order");
  ok(order_parse("{\"date\":\"x\"}", 12, &o) == KDS_EINVAL, "no invoice_number");
  ok(order_parse("{not json", 9, &o) == KDS_EINVAL, "bad JSON");
  /* seed-only shape: no lines, the categories give them */
  const char *seed =
      "{\"invoice_number\":\"INV-20231103-0001\",\"date\":\"2023-11-03\",\"total_amount\":15000,"
      "\"ISI CORNDOG\":{\"quantity\":2,\"total_amount\":12000,\"items\":[\"Corndog Sosis\"]},"
      "\"SAUS ASIN\":{\"quantity\":2,\"total_amount\":2000,\"items\":[\"Saus Tomat\",\"Mayonaise\"]}}";
  ok(order_parse(seed, strlen(seed), &o) == 0, "seed-only order parses");
  ok(o.nlines == 3 && o.lines[0].qty == 2 && o.lines[0].subtotal == 12000 && o.lines[1].qty == 1 &&
         strcmp(o.lines[2].name, "Mayonaise") == 0 && o.lines[2].category_sort == 2,
     "lines synthesised from the categories");
  /* unknown extension keys are ignored; a line whose category has no key comes last */
  const char *ext =
      "{\"invoice_number\":\"INV-1\",\"rush\":true,\"order_type\":\"dine_in\",\"lines\":["
      "{\"product_id\":9,\"name\":\"X\",\"category\":\"NOKEY\",\"qty\":2,\"price\":5,\"subtotal\":10}]}";
  ok(order_parse(ext, strlen(ext), &o) == 0 && o.nlines == 1 && o.lines[0].subtotal == 10 &&
         o.lines[0].category_sort == 1,
     "extension keys ignored");
  order_release(&o);
  order_release(&o); /* twice is harmless */
}

static void t_validation(void) {
  order_t o;
  kds_err e;
  order_init(&o);
  struct {
    const char *body, *field, *msg;
  } cases[] = {
      {"{}", "payment_method", "payment_method must be one of CASH, QRIS, CARD, TRANSFER, EWALLET"},
      {"{\"payment_method\":\"BITCOIN\",\"items\":[]}", "payment_method", NULL},
      {"{\"payment_method\":1}", "payment_method", NULL},
      {"{\"payment_method\":\"CASH\"}", "items", "items must be a non-empty array"},
      {"{\"payment_method\":\"CASH\",\"items\":[]}", "items", NULL},
      {"{\"payment_method\":\"CASH\",\"items\":{}}", "items", NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[1]}", "items[0]",
       "each item must be an object {product_id, qty}"},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1},[]]}", "items[1]", NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":99,\"qty\":1}]}", "items[0].product_id",
       "there is no active product with id 99"},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"qty\":1}]}", "items[0].product_id",
       "there is no active product with id undefined"},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":\"1\",\"qty\":1}]}", "items[0].product_id",
       "there is no active product with id \"1\""},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1.5,\"qty\":1}]}", "items[0].product_id",
       NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":8,\"qty\":1}]}", "items[0].product_id", NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":0}]}", "items[0].qty",
       "qty must be an integer from 1 to 999"},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1000}]}", "items[0].qty", NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1.5}]}", "items[0].qty", NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":\"2\"}]}", "items[0].qty", NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1}]}", "items[0].qty", NULL},
      /* product before qty inside an entry; entries in order */
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":99,\"qty\":0}]}", "items[0].product_id",
       NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":0},{\"product_id\":99,\"qty\":1}]}",
       "items[0].qty", NULL},
      {"{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1}],\"note\":5}", "note",
       "note must be a string of at most 500 characters"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rc = validate(cases[i].body, &o, &e);
    ok(rc == KDS_EREQUEST && e.status == 422 && strcmp(e.code, "validation_failed") == 0 &&
           strcmp(e.field, cases[i].field) == 0 && (!cases[i].msg || strcmp(e.message, cases[i].msg) == 0),
       "%s -> 422 %s (%s)", cases[i].body, cases[i].field, e.message);
  }

  /* 200 entries pass (merged to one line), 201 is 422 on items */
  kds_buf b = KDS_BUF_INIT;
  for (int n = 200; n <= 201; n++) {
    kds_buf_reset(&b);
    kds_buf_adds(&b, "{\"payment_method\":\"CARD\",\"items\":[");
    for (int i = 0; i < n; i++) kds_buf_addf(&b, "%s{\"product_id\":3,\"qty\":999}", i ? "," : "");
    kds_buf_adds(&b, "]}");
    int rc = validate(b.base, &o, &e);
    if (n == 200)
      ok(rc == 0 && o.nlines == 1 && o.lines[0].qty == 199800 && o.total_amount == 399600000,
         "200 entries merge into one line");
    else
      ok(rc == KDS_EREQUEST && strcmp(e.field, "items") == 0 &&
             strcmp(e.message, "an order has at most 200 lines") == 0,
         "201 entries: 422 items");
  }
  /* note: 500 characters (multi-byte) pass, 501 fail; null is no note */
  kds_buf_reset(&b);
  kds_buf_adds(&b, "{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1}],\"note\":\"");
  for (int i = 0; i < 500; i++) kds_buf_adds(&b, "\xC3\xA9");
  kds_buf_adds(&b, "\"}");
  ok(validate(b.base, &o, &e) == 0 && o.note && strlen(o.note) == 1000, "500-character note passes");
  kds_buf_reset(&b);
  kds_buf_adds(&b, "{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1}],\"note\":\"");
  for (int i = 0; i < 501; i++) kds_buf_adds(&b, "x");
  kds_buf_adds(&b, "\"}");
  ok(validate(b.base, &o, &e) == KDS_EREQUEST && strcmp(e.field, "note") == 0, "501-character note fails");
  ok(validate("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1}],\"note\":null}", &o,
              &e) == 0 &&
         o.note == NULL,
     "null note is none");
  ok(validate("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1}],\"note\":\"   \"}", &o,
              &e) == 0 &&
         o.note == NULL,
     "blank note is none");
  kds_buf_release(&b);

  /* a failing lookup passes its error through */
  cJSON *body = cJSON_Parse("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1}]}");
  order_release(&o);
  ok(order_validate(body, failing_lookup, NULL, &o, &e) == KDS_EDB, "lookup error passes through");
  cJSON_Delete(body);
  order_release(&o);
}

/* SPEC 11.23: every amount stays within 2^53 - 1, whatever the menu says. */
static const order_product rich_menu[] = {
    {1, "Gold", 1, "LUX", 1, ORDER_MAX_AMOUNT, 1},     /* the largest price there may be */
    {2, "Half", 1, "LUX", 1, ORDER_MAX_AMOUNT / 2, 1}, /* two of these fit, three do not */
    {3, "Cheap", 2, "OTHER", 2, 1, 1},
    {4, "Huge", 2, "OTHER", 2, INT64_MAX, 1}, /* a menu gone wrong: must not overflow */
};

static int rich_lookup(void *ud, int64_t id, order_product *out) {
  for (size_t i = 0; i < sizeof(rich_menu) / sizeof(rich_menu[0]); i++) {
    if (rich_menu[i].id == id) {
      *out = rich_menu[i];
      return 1;
    }
  }
  return 0;
}

static int validate_rich(const char *json, order_t *o, kds_err *err) {
  cJSON *body = cJSON_Parse(json);
  int rc;
  order_release(o);
  kds_err_clear(err);
  if (!body) return 99;
  rc = order_validate(body, rich_lookup, NULL, o, err);
  cJSON_Delete(body);
  return rc;
}

static void t_money(void) {
  order_t o;
  kds_err e;
  int64_t v = 7;
  order_init(&o);
  ok(order_amount_mul(ORDER_MAX_AMOUNT, 1, &v) == 0 && v == ORDER_MAX_AMOUNT, "2^53-1 x 1 fits");
  ok(order_amount_mul(ORDER_MAX_AMOUNT, 2, &v) == KDS_ETOOBIG && v == ORDER_MAX_AMOUNT, "x 2 does not");
  ok(order_amount_mul(INT64_MAX, 999, &v) == KDS_ETOOBIG, "an int64 overflow is refused, not wrapped");
  ok(order_amount_add(ORDER_MAX_AMOUNT, 1, &v) == KDS_ETOOBIG, "2^53-1 + 1 refused");
  ok(order_amount_add(INT64_MAX, INT64_MAX, &v) == KDS_ETOOBIG, "int64 sum overflow refused");

  ok(validate_rich("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":1}]}", &o, &e) == 0 &&
         o.total_amount == ORDER_MAX_AMOUNT,
     "an order of exactly 2^53-1 is accepted");
  ok(validate_rich("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":2}]}", &o, &e) ==
             KDS_EREQUEST &&
         e.status == 422 && strcmp(e.field, "items") == 0,
     "qty 2 of a 2^53-1 price: 422 on items");
  ok(validate_rich("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":999},"
                   "{\"product_id\":1,\"qty\":999}]}",
                   &o, &e) == KDS_EREQUEST &&
         e.status == 422 && strcmp(e.field, "items") == 0,
     "the review's case (999 twice, merged): 422 on items");
  ok(validate_rich("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":2,\"qty\":1},"
                   "{\"product_id\":2,\"qty\":1}]}",
                   &o, &e) == 0 &&
         o.nlines == 1 && o.lines[0].qty == 2 && o.total_amount == ORDER_MAX_AMOUNT - 1,
     "merged to two halves: fits");
  ok(validate_rich("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":2,\"qty\":2},"
                   "{\"product_id\":2,\"qty\":1}]}",
                   &o, &e) == KDS_EREQUEST &&
         strcmp(e.field, "items") == 0,
     "merged past the limit: 422 on items");
  ok(validate_rich("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":2,\"qty\":2},"
                   "{\"product_id\":3,\"qty\":2}]}",
                   &o, &e) == KDS_EREQUEST &&
         strcmp(e.field, "items") == 0,
     "each line fits but the order total does not: 422 on items");
  ok(validate_rich("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":4,\"qty\":999}]}", &o, &e) ==
             KDS_EREQUEST &&
         strcmp(e.field, "items") == 0,
     "an int64-sized price times 999: 422, no overflow");

  /* what a display parses from a server it does not trust */
  const char *hostile =
      "{\"invoice_number\":\"INV-1\",\"lines\":[{\"name\":\"x\",\"category\":\"C\","
      "\"qty\":8e15,\"price\":8e15}]}";
  ok(order_parse(hostile, strlen(hostile), &o) == KDS_ETOOBIG && o.nlines == 0,
     "parse: qty x price overflow refused");
  order_release(&o);
  ok(order_line_add(&o, 1, "a", 1, "C", 1, 1, ORDER_MAX_AMOUNT) == 0 &&
         order_line_add(&o, 2, "b", 1, "C", 1, 1, ORDER_MAX_AMOUNT) == 0,
     "two lines at the limit each");
  int64_t total = 0;
  ok(order_lines_total(&o, &total) == KDS_ETOOBIG && total == 0, "their total is refused");
  kds_buf b = KDS_BUF_INIT;
  order_fixture_header(&o);
  ok(order_render(&o, &b) == KDS_ETOOBIG, "render refuses a category total past the limit");
  kds_buf_release(&b);
  order_release(&o);
}

static void t_hash(void) {
  cJSON *a =
      cJSON_Parse("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":2}],\"note\":\"x\"}");
  cJSON *b =
      cJSON_Parse("{\"note\":\"x\",\"items\":[{\"qty\":2,\"product_id\":1}],\"payment_method\":\"CASH\"}");
  cJSON *c =
      cJSON_Parse("{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":3}],\"note\":\"x\"}");
  cJSON *d =
      cJSON_Parse("{\"items\":[{\"product_id\":1,\"qty\":2}],\"payment_method\":\"CASH\",\"note\":\"x\"}");
  char ha[65], hb[65], hc[65], hd[65];
  ok(order_body_hash(a, ha) == 0 && order_body_hash(b, hb) == 0 && order_body_hash(c, hc) == 0 &&
         order_body_hash(d, hd) == 0,
     "hashes");
  ok(strcmp(ha, hb) == 0 && strcmp(ha, hd) == 0, "key order does not matter");
  ok(strcmp(ha, hc) != 0, "a different qty does");
  ok(strlen(ha) == 64, "hex sha256");
  cJSON_Delete(a);
  cJSON_Delete(b);
  cJSON_Delete(c);
  cJSON_Delete(d);
}

int main(void) {
  subtest("seed shape", t_seed_shape);
  subtest("grouping", t_grouping);
  subtest("escaping", t_escaping);
  subtest("parse", t_parse);
  subtest("validation", t_validation);
  subtest("money", t_money);
  subtest("hash", t_hash);
  return done_testing();
}
