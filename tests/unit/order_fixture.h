/* order_fixture.h: the seed's sample order header (SPEC 10), shared by the order model's
 * unit test and its fuzz target. */
#ifndef KDS_ORDER_FIXTURE_H
#define KDS_ORDER_FIXTURE_H

#include <stdio.h>

#include "order.h"

static inline void order_fixture_header(order_t *o) {
  snprintf(o->invoice_number, sizeof(o->invoice_number), "INV-20231103-0001");
  snprintf(o->date, sizeof(o->date), "2023-11-03");
  snprintf(o->status, sizeof(o->status), "new");
  snprintf(o->created_at, sizeof(o->created_at), "2023-11-03T10:15:02.123+07:00");
  snprintf(o->updated_at, sizeof(o->updated_at), "2023-11-03T10:15:02.123+07:00");
  o->outlet_id = 1;
}

#endif
