/* Unit tests for shared/order_text.c: invoice numbers, local timestamps, vocabularies,
 * transitions, roles. */
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "order.h"

static void t_invoice_time(void) {
  char inv[ORDER_INVOICE_SIZE], d[ORDER_DATE_SIZE], iso[ORDER_TIME_SIZE];
  ok(order_invoice_format(inv, "2023-11-03", 1) == 0 && strcmp(inv, "INV-20231103-0001") == 0, "0001");
  ok(order_invoice_format(inv, "2023-11-03", 9999) == 0 && strcmp(inv, "INV-20231103-9999") == 0, "9999");
  ok(order_invoice_format(inv, "2023-11-03", 10000) == 0 && strcmp(inv, "INV-20231103-10000") == 0, "widens");
  ok(order_invoice_format(inv, "2023-11-3", 1) == KDS_EINVAL &&
         order_invoice_format(inv, "2023-11-03", 0) == KDS_EINVAL,
     "bad date or seq refused");
  ok(order_date_shape_ok("2024-02-30") && !order_date_shape_ok("2024-2-3") &&
         !order_date_shape_ok("2024-02-03x"),
     "date shape");

  setenv("TZ", "Asia/Jakarta", 1);
  tzset();
  int64_t ms = 1698981302123; /* 2023-11-03T03:15:02.123Z */
  order_local_date(ms, d);
  order_local_iso(ms, iso);
  ok(strcmp(d, "2023-11-03") == 0, "local date (Jakarta)");
  ok(strcmp(iso, "2023-11-03T10:15:02.123+07:00") == 0, "local ISO with +07:00 and ms: %s", iso);
  order_local_iso(1698969600000 - 1, iso); /* 2023-11-02T23:59:59.999Z = 06:59:59.999 local */
  ok(strcmp(iso, "2023-11-03T06:59:59.999+07:00") == 0, "ms rounding: %s", iso);
  setenv("TZ", "America/St_Johns", 1); /* -02:30 in November */
  tzset();
  order_local_iso(ms, iso);
  ok(strcmp(iso, "2023-11-03T00:45:02.123-02:30") == 0, "negative half-hour offset: %s", iso);
  order_local_date(ms, d);
  ok(strcmp(d, "2023-11-03") == 0, "its date");
  setenv("TZ", "UTC", 1);
  tzset();
  order_local_iso(ms, iso);
  ok(strcmp(iso, "2023-11-03T03:15:02.123+00:00") == 0, "UTC is +00:00, never Z");
  setenv("TZ", "Asia/Jakarta", 1);
  tzset();
  ok(order_now_ms() > 1600000000000, "now");
}

static void t_rules(void) {
  ok(order_is_reserved_key("invoice_number") && order_is_reserved_key("lines") &&
         order_is_reserved_key("note") && order_is_reserved_key("rush") &&
         order_is_reserved_key("done_lines") && !order_is_reserved_key("BALUTAN"),
     "reserved keys");
  ok(order_payment_method_valid("EWALLET") && !order_payment_method_valid("cash") &&
         !order_payment_method_valid(NULL),
     "payment methods");
  ok(order_status_valid("cancelled") && !order_status_valid("done"), "statuses");
  ok(order_role_valid("kitchen") && !order_role_valid("root"), "roles");
  ok(order_status_bit("new") == 1 && order_status_bit("cancelled") == 16 && order_status_bit("x") == 0,
     "bits");

  static const char *st[] = {"new", "preparing", "ready", "completed", "cancelled"};
  /* the full table: rows from, columns to */
  static const int allowed[5][5] = {
      {0, 1, 1, 0, 1}, {0, 0, 1, 0, 1}, {0, 1, 0, 1, 1}, {0, 0, 1, 0, 0}, {0, 0, 0, 0, 0},
  };
  int good = 1;
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 5; j++)
      if (order_transition_ok(st[i], st[j]) != allowed[i][j]) {
        good = 0;
        printf("# %s -> %s wrong\n", st[i], st[j]);
      }
  ok(good, "transition table");
  static const char *roles[] = {"admin", "kitchen", "cashier"};
  static const int may[3][5] = {{1, 1, 1, 1, 1}, {0, 1, 1, 1, 0}, {0, 0, 0, 1, 1}};
  good = 1;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 5; j++)
      if (order_role_may_set(roles[i], st[j]) != may[i][j]) good = 0;
  ok(good, "role table");
  ok(!order_role_may_set("kitchen", "cancelled"), "the kitchen can never cancel");
}

int main(void) {
  subtest("invoice and time", t_invoice_time);
  subtest("rules", t_rules);
  return done_testing();
}
