/* fuzz_model: what the kitchen display does with what a server sends it (kds-tui/model.h and
 * the card text of kds-tui/layout.h). A server, or anything that answers on its port, is not
 * trusted: any event, any listing, in any order, must leave a consistent queue and cards
 * that fit their width. The input is a sequence of records: one byte (the kind: new-order,
 * order-updated, order-deleted, a listing, a clock step), a 16-bit length and that many
 * bytes of JSON (parsed with cJSON; what does not parse is a null payload, which the model
 * must refuse). After every record the visible tickets are laid out at a width taken from
 * the input; every row's text is checked to be valid UTF-8, in a UTF-8 locale and in C. */
#include <cjson/cJSON.h>
#include <locale.h>
#include <string.h>

#include "fuzz.h"
#include "layout.h"
#include "model.h"
#include "utf8.h"

#define ROWS_MAX 256

static const char *const events[] = {"new-order", "order-updated", "order-deleted"};

static void check_cards(const model_t *m, int64_t now_ms, int inner_w, int expo) {
  static layout_row rows[ROWS_MAX];
  layout_ctx c = {.m = m, .now_ms = now_ms, .inner_w = inner_w, .expo = expo};
  fuzz_check(m->nvis <= m->n, "no more visible tickets than tickets");
  for (size_t i = 0; i < m->nvis; i++) {
    size_t n = layout_ticket_rows(&c, m->vis[i], (int)(i % 10), rows, ROWS_MAX);
    fuzz_check(n >= 2, "a card has at least its title and status rows");
    for (size_t r = 0; r < n && r < ROWS_MAX; r++) {
      size_t len = strlen(rows[r].text);
      fuzz_check(len < sizeof(rows[r].text), "row text terminated");
      fuzz_check(utf8_valid(rows[r].text, len), "row text is UTF-8");
      fuzz_check(rows[r].line < 0 || (size_t)rows[r].line < m->vis[i]->nlines, "a row's line exists");
    }
  }
}

/* As kds-tui runs: a UTF-8 locale (widths from wcwidth). The first input byte's top bit picks
 * the C locale instead, where every cut must still fall between characters. */
static int utf8_locale;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  utf8_locale = setlocale(LC_ALL, "C.UTF-8") != NULL;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  model_t m;
  int64_t now_ms = 1700000000000LL;
  unsigned first = fuzz_u8(&in);
  int inner_w = 24 + (int)(first % 40);
  if (utf8_locale) setlocale(LC_CTYPE, (first & 0x80) ? "C" : "C.UTF-8");
  int expo = fuzz_u8(&in) & 1;
  const char *stations = (fuzz_u8(&in) & 1) ? "SAUS ASIN, isi corndog" : NULL;
  if (model_init(&m, stations) != 0) return 0;
  while (in.n > 0) {
    unsigned kind = fuzz_u8(&in) % 5;
    const uint8_t *b;
    size_t len = fuzz_bytes(&in, fuzz_u16(&in) % 4096, &b);
    cJSON *j = cJSON_ParseWithLength((const char *)b, len);
    if (kind < 3) {
      ticket_t *t = NULL;
      int rc = model_apply(&m, events[kind], j, now_ms, &t);
      if (!j) fuzz_check(rc < 0 || rc == MODEL_NONE, "a payload that is not JSON changes nothing");
    } else if (kind == 3) {
      size_t added = 0;
      (void)model_load(&m, j, now_ms, 1, &added);
      fuzz_check(added <= m.n, "no more added than held");
    } else {
      now_ms += (int64_t)(len + 1) * 997; /* time passes: highlights and cancelled banners expire */
      (void)model_tick(&m, now_ms);
    }
    cJSON_Delete(j);
    check_cards(&m, now_ms, inner_w, expo);
  }
  model_release(&m);
  return 0;
}
