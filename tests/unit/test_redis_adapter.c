/* test_redis_adapter.c: the --redis URL (redis://[[user]:password@]host[:port][/db]). The
 * adapter's Redis behaviour (publish, subscribe, reconnect, bad messages) is tested against
 * a real redis-server in tests/integration/redis.test.js. */
#include <string.h>

#include "err.h"
#include "redis_adapter.h"
#include "test.h"

static void t_good(void) {
  redis_url u;
  char err[256];
  ok(redis_url_parse("redis://127.0.0.1", &u, err, sizeof(err)) == 0 && strcmp(u.host, "127.0.0.1") == 0 &&
         u.port == 6379 && u.db == 0 && u.password[0] == '\0' && u.user[0] == '\0',
     "host alone: port 6379, db 0, no AUTH");
  ok(redis_url_parse("redis://redis.local:6380/3", &u, err, sizeof(err)) == 0 &&
         strcmp(u.host, "redis.local") == 0 && u.port == 6380 && u.db == 3,
     "port and db");
  ok(redis_url_parse("redis://:s3cr@t@10.0.0.5:7000", &u, err, sizeof(err)) == 0 &&
         strcmp(u.password, "s3cr@t") == 0 && u.user[0] == '\0' && strcmp(u.host, "10.0.0.5") == 0 &&
         u.port == 7000,
     "password with an @ (the last @ ends the userinfo)");
  ok(redis_url_parse("redis://kds:pw@h/", &u, err, sizeof(err)) == 0 && strcmp(u.user, "kds") == 0 &&
         strcmp(u.password, "pw") == 0 && strcmp(u.host, "h") == 0 && u.db == 0,
     "user and password (ACL), trailing slash");
}

static void t_bad(void) {
  static const char *const bad[] = {"",
                                    "http://h",
                                    "redis://",
                                    "redis://:6379",
                                    "redis://h:0",
                                    "redis://h:65536",
                                    "redis://h:x",
                                    "redis://h/x",
                                    "redis://user@h",
                                    "redis://h:6379/-1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    redis_url u;
    char err[256] = "";
    ok(redis_url_parse(bad[i], &u, err, sizeof(err)) == KDS_EINVAL && strstr(err, "--redis") != NULL,
       "refused: \"%s\" (%s)", bad[i], err);
  }
}

int main(void) {
  subtest("good", t_good);
  subtest("bad", t_bad);
  return done_testing();
}
