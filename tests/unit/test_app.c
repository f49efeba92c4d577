/* Unit tests for kds-tui/app.c without a network or a screen: options and environment,
 * server URLs, the reconnect backoff, JSON as Node writes it, and the rule that live events
 * received while the open queue loads are applied after the load (seen through --plain). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "app.h"
#include "err.h"
#include "log.h"

static int parse(app_args *a, char *err, const char *first, ...) {
  char *argv[32];
  int argc = 0;
  va_list ap;
  argv[argc++] = "kds-tui";
  va_start(ap, first);
  for (const char *s = first; s && argc < 31; s = va_arg(ap, const char *)) argv[argc++] = (char *)s;
  va_end(ap);
  argv[argc] = NULL;
  FILE *devnull = fopen("/dev/null", "w");
  int rc = app_args_parse(a, argc, argv, devnull, err, 256);
  fclose(devnull);
  return rc;
}

static void t_args(void) {
  app_args a;
  char err[256];
  unsetenv("KDS_SERVER");
  unsetenv("KDS_TOKEN");
  unsetenv("NO_COLOR");
  ok(parse(&a, err, "--server", "http://127.0.0.1:3000", "--token", "T", "--station", "SAUS ASIN,SAUS MANIS",
           "--no-bell", NULL) == 0,
     "the SPEC 5 command line");
  ok(strcmp(a.server, "http://127.0.0.1:3000") == 0 && strcmp(a.token, "T") == 0 && a.no_bell && !a.plain &&
         strcmp(a.station, "SAUS ASIN,SAUS MANIS") == 0 && a.warn_min == 5 && a.late_min == 10,
     "values");
  setenv("KDS_SERVER", "http://env:1", 1);
  setenv("KDS_TOKEN", "envtok", 1);
  ok(parse(&a, err, "--plain", NULL) == 0 && strcmp(a.server, "http://env:1") == 0 &&
         strcmp(a.token, "envtok") == 0 && a.plain,
     "KDS_SERVER and KDS_TOKEN from the environment");
  ok(parse(&a, err, "--token", "cli", NULL) == 0 && strcmp(a.token, "cli") == 0, "the command line wins");
  unsetenv("KDS_SERVER");
  unsetenv("KDS_TOKEN");
  ok(parse(&a, err, "--token", "x", NULL) == KDS_EINVAL && strstr(err, "no server"), "no server: said");
  ok(parse(&a, err, "--server", "https://kds.example", "--token", "t", "--ca-file", "/etc/ca.pem", NULL) ==
             0 &&
         strcmp(a.ca_file, "/etc/ca.pem") == 0,
     "https: accepted, with --ca-file");
  ok(parse(&a, err, "--server", "http://kds.example", "--token", "t", "--ca-file", "/etc/ca.pem", NULL) ==
             KDS_EINVAL &&
         strstr(err, "--ca-file"),
     "--ca-file with http:// refused");
  ok(parse(&a, err, "--server", "ftp://x", NULL) == KDS_EINVAL && strstr(err, "bad --server"),
     "other schemes refused");
  ok(parse(&a, err, "--server", "http://x:1", "--bogus", NULL) == KDS_EINVAL && strstr(err, "--bogus"),
     "unknown option named");
  ok(parse(&a, err, "--server", "http://x:1", "--warn", "10", "--late", "5", NULL) == KDS_EINVAL,
     "warn < late");
  ok(parse(&a, err, "--server", "http://x:1", "--late", "abc", NULL) == KDS_EINVAL && strstr(err, "--late"),
     "minutes must be numbers");
  ok(parse(&a, err, "--help", NULL) == 1 && parse(&a, err, "--version", NULL) == 1, "--help and --version");
  ok(parse(&a, err, "--feed", "/tmp/x", NULL) == 0, "--feed needs no server");
  setenv("NO_COLOR", "1", 1);
  ok(parse(&a, err, "--server", "http://x:1", NULL) == 0 && a.no_color, "NO_COLOR");
  unsetenv("NO_COLOR");
  char big[600];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ok(parse(&a, err, "--server", "http://x:1", "--token", big, NULL) == KDS_EINVAL && strstr(err, "too long"),
     "a too long token is refused, not cut");
}

static void t_url(void) {
  char host[256], path[256];
  int port, https;
  ok(app_parse_url("http://127.0.0.1:3000", host, sizeof(host), &port, path, sizeof(path), &https) == 0 &&
         strcmp(host, "127.0.0.1") == 0 && port == 3000 && path[0] == '\0',
     "http://127.0.0.1:3000");
  ok(app_parse_url("http://kds.local", host, sizeof(host), &port, path, sizeof(path), &https) == 0 &&
         port == 80 && strcmp(host, "kds.local") == 0,
     "default port 80");
  ok(app_parse_url("http://[::1]:3000/", host, sizeof(host), &port, path, sizeof(path), &https) == 0 &&
         strcmp(host, "::1") == 0 && port == 3000 && path[0] == '\0',
     "IPv6 in brackets, trailing slash");
  ok(app_parse_url("http://proxy:8080/kds/", host, sizeof(host), &port, path, sizeof(path), &https) == 0 &&
         strcmp(path, "/kds") == 0,
     "a path prefix (behind a reverse proxy)");
  ok(app_parse_url("127.0.0.1:3000", host, sizeof(host), &port, path, sizeof(path), &https) == 0 &&
         port == 3000,
     "host:port alone");
  ok(app_parse_url("ws://h:1", host, sizeof(host), &port, path, sizeof(path), &https) == 0, "ws:// accepted");
  ok(app_parse_url("https://h", host, sizeof(host), &port, path, sizeof(path), &https) == 0 && https &&
         port == 443 && strcmp(host, "h") == 0,
     "https flagged, port 443");
  ok(app_parse_url("https://[::1]:8443/kds", host, sizeof(host), &port, path, sizeof(path), &https) == 0 &&
         https && port == 8443 && strcmp(host, "::1") == 0 && strcmp(path, "/kds") == 0,
     "https with v6, port and prefix");
  ok(app_parse_url("wss://h:9", host, sizeof(host), &port, path, sizeof(path), &https) == 0 && https &&
         port == 9,
     "wss:// is https");
  const char *bad[] = {"http://",         "http://:80",  "http://h:0",     "http://h:65536", "http://h:12x",
                       "http://user@h:1", "http://[::1", "http://h:1/a?b", "http://h h:1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ok(app_parse_url(bad[i], host, sizeof(host), &port, path, sizeof(path), &https) == KDS_EINVAL, "bad: %s",
       bad[i]);
}

static void t_backoff(void) {
  ok(app_backoff_ms(0, 0.0) == 250 && app_backoff_ms(0, 0.9999) <= 500 && app_backoff_ms(0, 0.9999) >= 499,
     "first retry: 0.5 s with jitter in [0.25, 0.5]");
  ok(app_backoff_ms(1, 0.0) == 500 && app_backoff_ms(1, 0.99999) <= 1000, "then 1 s");
  ok(app_backoff_ms(2, 0.5) == 1500, "then 2 s (half way: 1.5 s)");
  ok(app_backoff_ms(6, 0.99999) <= 30000 && app_backoff_ms(6, 0.0) == 15000, "capped at 30 s");
  ok(app_backoff_ms(1000, 0.0) == 15000, "a huge attempt count does not overflow");
  int spread = 0;
  int64_t prev = -1;
  for (int i = 0; i < 10; i++) {
    int64_t d = app_backoff_ms(4, i / 10.0);
    if (d != prev) spread++;
    prev = d;
    if (d < 4000 || d > 8000) spread = -100;
  }
  ok(spread == 10, "jitter spreads the delay over [d/2, d]");
}

static void t_json(void) {
  cJSON *v = app_json_parse("{\"a\":\"x\\ud800y\"}", 16);
  ok(v && strcmp(cJSON_GetObjectItem(v, "a")->valuestring, "x\xef\xbf\xbdy") == 0,
     "a lone surrogate becomes U+FFFD");
  cJSON_Delete(v);
  v = app_json_parse("{\"a\":\"\\ud83d\\ude00\"}", 20);
  ok(v && strcmp(cJSON_GetObjectItem(v, "a")->valuestring, "\xf0\x9f\x98\x80") == 0, "a pair is kept");
  cJSON_Delete(v);
  v = app_json_parse("{\"a\":\"\\\\ud800\"}", 16);
  ok(v && strcmp(cJSON_GetObjectItem(v, "a")->valuestring, "\\ud800") == 0,
     "an escaped backslash is not an escape");
  cJSON_Delete(v);
  v = app_json_parse("{\"a\":\"\\udc00\\ud800\"}", 20);
  ok(v && strcmp(cJSON_GetObjectItem(v, "a")->valuestring, "\xef\xbf\xbd\xef\xbf\xbd") == 0,
     "reversed pair: two");
  cJSON_Delete(v);
  ok(app_json_parse("{\"a\":", 5) == NULL, "not JSON: NULL");
  ok(app_json_parse("\"\\ud8", 5) == NULL, "a cut escape: NULL, no overread");
  ok(app_json_parse("", 0) == NULL, "empty: NULL");
}

/* The app in --plain mode with its output in a file, no loop needed for events. */
static void t_hold(void) {
  app_t *app = calloc(1, sizeof(*app));
  char buf[8192];
  FILE *out = tmpfile();
  model_init(&app->model, NULL);
  app->model_ready = 1;
  app->args.plain = 1;
  app->out = out;
  app->loaded_once = 1;
  app->conn = APP_LOADING;
  const char *o1 =
      "{\"invoice_number\":\"INV-1\",\"status\":\"new\",\"created_at\":\"2023-11-03T10:00:00.000+07:00\","
      "\"updated_at\":\"2023-11-03T10:00:00.000+07:00\",\"lines\":[{\"name\":\"Mie\",\"category\":"
      "\"BALUTAN\",\"qty\":2}]}";
  const char *o1done =
      "{\"invoice_number\":\"INV-1\",\"status\":\"completed\",\"created_at\":\"2023-11-03T10:00:00.000+07:"
      "00\","
      "\"updated_at\":\"2023-11-03T10:05:00.000+07:00\",\"lines\":[]}";
  const char *o2 =
      "{\"invoice_number\":\"INV-2\",\"status\":\"new\",\"created_at\":\"2023-11-03T10:01:00.000+07:00\","
      "\"updated_at\":\"2023-11-03T10:01:00.000+07:00\",\"lines\":[{\"name\":\"Kentang\",\"category\":"
      "\"BALUTAN\",\"qty\":1}]}";
  app_event_in(app, "new-order", o2, strlen(o2));
  app_event_in(app, "order-updated", o1done, strlen(o1done));
  ok(app->buf_count == 2 && app->model.n == 0, "events during the load are held, not applied");
  /* the listing (taken before INV-1 completed) has INV-1 */
  char list[1024];
  snprintf(list, sizeof(list), "[%s]", o1);
  app_listing_in(app, list, strlen(list));
  ok(app->buf_count == 0, "the held events were applied after the load");
  ok(app->model.n == 1 && model_find(&app->model, "INV-2") && !model_find(&app->model, "INV-1"),
     "final state: INV-2 open, INV-1 completed (the listing did not undo the later event)");
  app->conn = APP_LIVE;
  app_event_in(app, "order-deleted", "{\"invoice_number\":\"INV-2\"}", 27);
  ok(app->model.n == 0, "live events apply at once");
  app_event_in(app, "new-order", "{\"broken\":", 10);
  app_event_in(app, "new-order", "[1,2]", 5);
  rewind(out);
  size_t n = fread(buf, 1, sizeof(buf) - 1, out);
  buf[n] = '\0';
  ok(strstr(buf, "loaded 1 open orders (1 shown, 1 new)") != NULL, "plain: the load");
  ok(strstr(buf, "new-order INV-2 new ") && strstr(buf, "| BALUTAN: 1x Kentang"),
     "plain: the held new order");
  ok(strstr(buf, "order-updated INV-1 completed") != NULL, "plain: the held completion");
  ok(strstr(buf, "order-deleted INV-2 removed") != NULL, "plain: the live deletion");
  ok(strstr(buf, "error: The server sent a new order that cannot be read") != NULL,
     "plain: an unreadable new order is reported, twice");
  /* the limit on held events: past APP_BUFFER_MAX, everything held is dropped and a reload asked */
  app->conn = APP_LOADING;
  for (int i = 0; i < APP_BUFFER_MAX + 1; i++) app_event_in(app, "new-order", o2, strlen(o2));
  ok(app->reload_again == 1 && app->buf_count == 0,
     "held events are bounded: over the limit, reload instead");
  app__drop_held(app);
  fclose(out);
  model_release(&app->model);
  free(app);
}

int main(void) {
  kds_log_set(KDS_LOG_ERROR);
  subtest("args", t_args);
  subtest("url", t_url);
  subtest("backoff", t_backoff);
  subtest("json", t_json);
  subtest("hold", t_hold);
  return done_testing();
}
