/* test_alloc_fail.c: every allocation of the codecs failing in turn. For each scenario
 * (Engine.IO codec, Socket.IO decoder and encoders, the order model, the JSON body reader)
 * a first run counts the allocations; then the scenario runs once per allocation with
 * exactly that one failing. Each run must return an error or, where the code falls back,
 * still the right result (never crash, never a wrong result such as a reserved event name
 * accepted or an order parsed with parts missing), leave what it was given usable, and
 * leak nothing (ASan's leak check at exit). The seam is the linker: this executable is linked with
 * --wrap=malloc,calloc,realloc,strdup,strndup (tests/CMakeLists.txt), so every call from the
 * statically linked project code lands in the __wrap_ functions below; cJSON, a shared
 * library, gets the same counter through cJSON_InitHooks. server/http/http.c is included to
 * build a request for the JSON body reader without a connection. */
#include "../../server/http/http.c"

#include <cjson/cJSON.h>

#include "eio.h"
#include "order.h"
#include "sio.h"
#include "test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static int counting;      /* the scenario is running: count (and maybe fail) */
static long calls;        /* allocations counted in this run */
static long fail_at = -1; /* the call (from 0) that fails; -1: none */
static int wrapped_seen;  /* the wrap is in place (checked once) */

static int should_fail(void) {
  wrapped_seen = 1;
  if (!counting) return 0;
  return calls++ == fail_at;
}

void *__wrap_malloc(size_t n) {
  return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b) {
  return should_fail() ? NULL : __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n) {
  return should_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s) {
  return should_fail() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
  return should_fail() ? NULL : __real_strndup(s, n);
}

static void *hook_malloc(size_t n) {
  return __wrap_malloc(n);
}
static void hook_free(void *p) {
  free(p);
}

/* A scenario returns 0 when it got the complete, right result; a negative error when a
 * call failed (after cleaning up); 1 when a result was wrong (accepted what it must refuse,
 * "succeeded" with parts missing). Run with no failure it must return 0. */
typedef int (*scenario_fn)(void);

/* Runs `fn` once counting, then once per allocation with that one failing. Every failing
 * run must give an error or, where the code has a fallback, still the right result; never
 * a wrong one. A run without failure succeeds again at the end. */
static void each_failing(const char *name, scenario_fn fn) {
  long n;
  int wrong = 0, enomem = 0, others = 0, absorbed = 0;
  counting = 1;
  calls = 0;
  fail_at = -1;
  ok(fn() == 0, "%s: succeeds without failures", name);
  n = calls;
  for (long at = 0; at < n; at++) {
    int rc;
    calls = 0;
    fail_at = at;
    rc = fn();
    if (rc == KDS_ENOMEM) {
      enomem++;
    } else if (rc < 0) {
      others++; /* an error, but not ENOMEM (e.g. cJSON's NULL read as a parse error) */
    } else if (rc == 0) {
      absorbed++; /* a fallback: the right result all the same */
    } else {
      wrong++;
      printf("# %s: with allocation %ld of %ld failing the result is wrong\n", name, at + 1, n);
    }
  }
  fail_at = -1;
  calls = 0;
  ok(n > 0 && wrong == 0,
     "%s: %ld allocations failing in turn: no wrong result (%d KDS_ENOMEM, %d other errors, %d absorbed)",
     name, n, enomem, others, absorbed);
  ok(fn() == 0, "%s: works again afterwards", name);
  counting = 0;
}

/* ---- Engine.IO ------------------------------------------------------------------------ */

static int sc_eio(void) {
  kds_buf out = KDS_BUF_INIT, scratch = KDS_BUF_INIT;
  eio_packet p;
  eio_handshake hs = {"lv_VI97HAXpY6yYWAAAC", 1, 25000, 20000, 1000000}, back;
  static const char bin[] = "\x01\x02\x03\x04\x05 binary attachment bytes";
  int rc;
  if ((rc = eio_packet_decode("bAQIDBAUgYmluYXJ5", 17, 1, &p, &scratch)) != 0) goto out;
  if ((rc = eio_packet_encode(&out, EIO_MESSAGE, 1, bin, sizeof(bin) - 1)) != 0) goto out;
  if ((rc = eio_payload_add(&out, "2probe", 6)) != 0) goto out;
  if ((rc = eio_packet_encode(&out, EIO_MESSAGE, 0, "2[\"a\"]", 6)) != 0) goto out;
  kds_buf_reset(&out);
  if ((rc = eio_handshake_encode(&out, &hs)) != 0) goto out;
  rc = eio_handshake_decode(out.base + 1, out.len - 1, &back);
  if (rc == 0 && strcmp(back.sid, hs.sid) != 0) rc = 1;
out:
  kds_buf_release(&out);
  kds_buf_release(&scratch);
  return rc;
}

/* ---- Socket.IO ------------------------------------------------------------------------ */

static int sc_sio_decoder(void) {
  sio_decoder d;
  sio_packet p;
  int rc, result = 1; /* wrong until the packets came out right */
  static const char ev[] =
      "2/custom,5[ \"new-order\" , { \"invoice_number\" : \"INV-1\", \"items\" : [1, 2] } ]";
  static const char bev[] =
      "52-/x,7[\"m\",{\"_placeholder\":true,\"num\":0}, {\"_placeholder\":true,\"num\":1}]";
  sio_decoder_init(&d);
  if ((rc = sio_decoder_text(&d, ev, sizeof(ev) - 1, &p)) != 1) goto out;
  if (!kds_slice_eq(p.data, "[\"new-order\",{\"invoice_number\":\"INV-1\",\"items\":[1,2]}]")) goto out;
  if ((rc = sio_decoder_text(&d, bev, sizeof(bev) - 1, &p)) != 0) goto out;
  if ((rc = sio_decoder_binary(&d, "\x01\x02", 2, &p)) != 0) goto out;
  if ((rc = sio_decoder_binary(&d, "tail", 4, &p)) != 1) goto out;
  if (p.attachments == 2 && kds_slice_eq(p.bin[1], "tail")) result = 0;
out:
  if (rc < 0) {
    /* the decoder was reset by the error: it must take a fresh packet */
    sio_packet q;
    int saved = counting;
    counting = 0;
    result = sio_decoder_text(&d, "2[\"x\"]", 6, &q) == 1 ? rc : 1;
    counting = saved;
  }
  sio_decoder_release(&d);
  return result;
}

/* Reserved event names are refused however they are spelled, memory or not: an escaped
 * "connect" must not pass because comparing it needed an allocation that failed. */
static int sc_sio_reserved(void) {
  static const char *const evs[] = {"2[\"\\u0063onnect\"]", "2[\"disconnec\\u0074\",1]",
                                    "2[\"connect_\\u0065rror\"]"};
  sio_decoder d;
  sio_packet p;
  int result = 0;
  sio_decoder_init(&d);
  for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
    int rc = sio_decoder_text(&d, evs[i], strlen(evs[i]), &p);
    if (rc == 1 || rc == 0) {
      printf("# reserved event %s accepted\n", evs[i]);
      result = 1;
    }
  }
  sio_decoder_release(&d);
  return result;
}

static int sc_sio_encode(void) {
  kds_buf out = KDS_BUF_INIT, lit = KDS_BUF_INIT, text = KDS_BUF_INIT;
  int rc;
  static const char args[] = "{\"invoice_number\":\"INV-20231103-0001\",\"total_amount\":14000}";
  if ((rc = kds_buf_addc(&out, '4')) != 0) goto out;
  if ((rc = sio_event_encode(&out, "/", -1, "order\"updated\n", args, sizeof(args) - 1, 0)) != 0) goto out;
  if ((rc = sio_ack_encode(&out, "/custom", 12, "{\"ok\":true}", 11, 1)) != 0) goto out;
  if ((rc = sio_connect_error_encode(&out, NULL, "unauthorized \xe2\x9c\x97", "{\"code\":401}", 12)) != 0)
    goto out;
  if ((rc = sio_placeholder_encode(&out, 3)) != 0) goto out;
  if ((rc = sio_json_compact(&out, "[ 1 , { \"a\" : \" b \" } ]", 23)) != 0) goto out;
  if ((rc = sio_json_quote(&lit, "tab\there \xf0\x9f\x8c\xb6 \x01", 16)) != 0) goto out;
  rc = sio_json_unquote(&text, (kds_slice){lit.base, lit.len});
out:
  kds_buf_release(&out);
  kds_buf_release(&lit);
  kds_buf_release(&text);
  return rc;
}

/* ---- the order model --------------------------------------------------------------------- */

static const order_product menu[] = {
    {1, "Corndog Sosis", 1, "ISI CORNDOG", 1, 6000, 1},
    {3, "Mie", 2, "BALUTAN", 2, 2000, 1},
    {5, "Saus Tomat", 3, "SAUS ASIN", 3, 1000, 1},
};

static int menu_lookup(void *ud, int64_t id, order_product *out) {
  for (size_t i = 0; i < sizeof(menu) / sizeof(menu[0]); i++)
    if (menu[i].id == id) {
      *out = menu[i];
      return 1;
    }
  return 0;
}

static const char order_body[] =
    "{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":1,\"qty\":2},{\"product_id\":3,\"qty\":1},"
    "{\"product_id\":5,\"qty\":1},{\"product_id\":1,\"qty\":1}],\"note\":\"  tanpa saus \xff \"}";

static int sc_order(void) {
  cJSON *body = cJSON_ParseWithLength(order_body, sizeof(order_body) - 1);
  order_t o, back;
  kds_err err;
  kds_buf out = KDS_BUF_INIT, clean = KDS_BUF_INIT;
  char hex[65];
  int rc;
  order_init(&o);
  order_init(&back);
  if (body == NULL) return KDS_ENOMEM; /* the parse itself counts: cJSON allocates through the hook */
  if ((rc = order_validate(body, menu_lookup, NULL, &o, &err)) != 0) goto out;
  snprintf(o.invoice_number, sizeof(o.invoice_number), "INV-20231103-0001");
  snprintf(o.status, sizeof(o.status), "new");
  if ((rc = order_render(&o, &out)) != 0) goto out;
  if ((rc = order_parse(out.base, out.len, &back)) != 0) goto out;
  if (back.nlines != o.nlines || back.total_amount != o.total_amount || !back.note) {
    rc = 1; /* parsed "successfully" with parts missing */
    goto out;
  }
  if ((rc = order_body_hash(body, hex)) != 0) goto out;
  if ((rc = order_text_clean(&clean, "a\xffz\0b", 5, 1)) != 0) goto out;
  if ((rc = order_json_str(&clean, "x\xc0\x80y", 4)) != 0) goto out;
  {
    char *t = order_trim_dup("  trimmed\t");
    if (t == NULL) rc = KDS_ENOMEM;
    free(t);
  }
out:
  order_release(&o);
  order_release(&back);
  kds_buf_release(&out);
  kds_buf_release(&clean);
  cJSON_Delete(body);
  return rc;
}

/* ---- the JSON body reader ------------------------------------------------------------------ */

static const char json_body[] =
    "\xef\xbb\xbf{\"payment_method\":\"CASH\",\"a\":1,\"items\":[{\"product_id\":1,\"qty\":2}],"
    "\"note\":\"\\u0000\\ud800 \xff\",\"a\":[1e999,-0.0,{\"b\":{\"b\":2,\"b\":3}}]}";

static int sc_json_body(void) {
  http_req_full f;
  struct hdr h[2];
  cJSON *json = NULL;
  kds_err err;
  int rc;
  memset(&f, 0, sizeof(f));
  f.pub.priv = &f.priv;
  f.pub.has_body = 1;
  counting = 0; /* the request itself is not the reader's allocation */
  kds_buf_add(&f.priv.raw, "content-type\0application/json; charset=UTF-8\0content-encoding\0identity\0", 71);
  kds_buf_add(&f.pub.body, json_body, sizeof(json_body) - 1);
  counting = 1;
  h[0] = (struct hdr){0, 12, 13, 31};
  h[1] = (struct hdr){45, 16, 62, 8};
  f.priv.hdrs = h;
  f.priv.nhdrs = 2;
  rc = http_req_json_body(&f.pub, &json, &err);
  if (rc == 0) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(json, "a");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) rc = 1; /* the last "a" wins */
  } else if (rc == KDS_ENOMEM && err.status != 500) {
    rc = 1; /* ENOMEM must come with a 500 to send */
    printf("# json body: ENOMEM without a 500 (%d)\n", err.status);
  }
  cJSON_Delete(json);
  kds_buf_release(&f.priv.raw);
  kds_buf_release(&f.pub.body);
  return rc;
}

int main(void) {
  cJSON_Hooks hooks = {hook_malloc, hook_free};
  cJSON_InitHooks(&hooks);
  {
    void *volatile probe = malloc(1); /* volatile: the pair must not be optimised away */
    free(probe);
  }
  ok(wrapped_seen, "malloc is wrapped (linked with --wrap)");
  each_failing("eio", sc_eio);
  each_failing("sio decoder", sc_sio_decoder);
  each_failing("sio reserved names", sc_sio_reserved);
  each_failing("sio encoders", sc_sio_encode);
  each_failing("order model", sc_order);
  each_failing("json body", sc_json_body);
  return done_testing();
}
