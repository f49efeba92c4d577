/* static.c: static files (see static.h). Files are small (the test page, the client bundle)
 * and in the page cache, so they are read synchronously with a size cap. */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "hex.h"
#include "log.h"

int static_init(static_files_t *s, const char *public_dir) {
  memset(s, 0, sizeof(*s));
  if (public_dir == NULL || public_dir[0] == '\0') return 0;
  s->public_real = realpath(public_dir, NULL);
  if (s->public_real == NULL) {
    if (errno == ENOMEM) return KDS_ENOMEM;
    log_debug("static: no public folder %s (%s): static files are off", public_dir, strerror(errno));
  }
  return 0;
}

void static_release(static_files_t *s) {
  free(s->public_real);
  s->public_real = NULL;
}

/* Strict decoding of the path onto `out`: a '%' needs two hex digits, and the decoded
 * bytes may not be NUL, '/' or '\' (an encoded separator is always an attack or a bug). */
static int decode_path(kds_slice p, kds_buf *out) {
  for (size_t i = 0; i < p.len; i++) {
    int ch = (unsigned char)p.ptr[i];
    if (ch == '%') {
      int hi, lo;
      if (i + 2 >= p.len + 0 || (hi = hex_digit((unsigned char)p.ptr[i + 1])) < 0 ||
          (lo = hex_digit((unsigned char)p.ptr[i + 2])) < 0)
        return KDS_EINVAL;
      ch = hi * 16 + lo;
      i += 2;
      if (ch == '/' || ch == '\\' || ch == 0) return KDS_EINVAL;
    } else if (ch == '\\' || ch == 0) {
      return KDS_EINVAL;
    }
    if (kds_buf_addc(out, (char)ch) != 0) return KDS_ENOMEM;
  }
  return 0;
}

int static_resolve(const static_files_t *s, kds_slice raw_path, kds_buf *out) {
  kds_buf dec = KDS_BUF_INIT;
  char *real = NULL;
  struct stat st;
  size_t rootlen;
  int rc;
  kds_buf_reset(out);
  if (raw_path.ptr == NULL || raw_path.len == 0 || raw_path.ptr[0] != '/') return KDS_EINVAL;
  if ((rc = decode_path(raw_path, &dec)) != 0) goto out;
  /* Segments: none empty (except a final one: a folder), none starting with '.'. */
  for (size_t i = 0; i < dec.len;) {
    size_t start = ++i; /* dec.base[i - 1] == '/' */
    while (i < dec.len && dec.base[i] != '/') i++;
    if (i == start && i != dec.len) {
      rc = KDS_EINVAL; /* "//" */
      goto out;
    }
    if (i > start && dec.base[start] == '.') {
      rc = KDS_EINVAL; /* ".", "..", dotfiles */
      goto out;
    }
  }
  if (s->public_real == NULL) {
    rc = KDS_ENOTFOUND;
    goto out;
  }
  if ((rc = kds_buf_adds(out, s->public_real)) != 0 || (rc = kds_buf_add(out, dec.base, dec.len)) != 0)
    goto out;
  if (dec.base[dec.len - 1] == '/' && (rc = kds_buf_adds(out, "index.html")) != 0) goto out;
  real = realpath(out->base, NULL);
  if (real == NULL) {
    rc = errno == ENOMEM ? KDS_ENOMEM : KDS_ENOTFOUND;
    goto out;
  }
  rootlen = strlen(s->public_real);
  if (strncmp(real, s->public_real, rootlen) != 0 || real[rootlen] != '/') {
    rc = KDS_EINVAL; /* a symlink out of the folder */
    goto out;
  }
  if (stat(real, &st) != 0) {
    rc = KDS_ENOTFOUND;
    goto out;
  }
  if (S_ISDIR(st.st_mode)) {
    rc = KDS_ESTATE;
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = KDS_ENOTFOUND;
    goto out;
  }
  kds_buf_reset(out);
  rc = kds_buf_adds(out, real);
out:
  free(real);
  kds_buf_release(&dec);
  if (rc != 0 && rc != KDS_ESTATE) kds_buf_reset(out);
  return rc;
}

const char *static_content_type(const char *path) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json; charset=utf-8"},
      {"map", "application/json; charset=utf-8"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
  };
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  if (dot && (!slash || dot > slash)) {
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
      if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
  }
  return "application/octet-stream";
}

static void reply_404(http_req_t *req) {
  kds_err e;
  kds_err_set(&e, 404, "not_found", NULL, "%s %.*s not found", req->method_name, (int)req->path.len,
              req->path.ptr);
  http_reply_error(req, &e);
}

static void reply_500(http_req_t *req) {
  kds_err e;
  kds_err_set(&e, 500, "internal_error", NULL, "the server failed to read a file; the error is logged");
  http_reply_error(req, &e);
}

/* Reads `path` whole and answers with it. */
static void send_file(http_req_t *req, const char *path, const char *ctype) {
  struct stat st;
  char *data = NULL, lm[64], headers[160];
  size_t got = 0;
  struct tm tm;
  kds_slice ims;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) {
      reply_404(req);
    } else {
      log_error("static: cannot open %s: %s", path, strerror(errno));
      reply_500(req);
    }
    return;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    reply_404(req);
    return;
  }
  if ((uintmax_t)st.st_size > STATIC_MAX_FILE) {
    close(fd);
    log_error("static: %s is larger than %u bytes: not served", path, STATIC_MAX_FILE);
    reply_500(req);
    return;
  }
  gmtime_r(&st.st_mtime, &tm);
  strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  ims = http_req_header(req, "if-modified-since");
  if (ims.ptr && ims.len == strlen(lm) && memcmp(ims.ptr, lm, ims.len) == 0) {
    close(fd);
    snprintf(headers, sizeof(headers), "Last-Modified: %s\r\nCache-Control: public, max-age=0\r\n", lm);
    http_reply(req, 304, NULL, headers, NULL, 0);
    return;
  }
  data = malloc((size_t)st.st_size + 1);
  if (data == NULL) {
    close(fd);
    reply_500(req);
    return;
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (got != (size_t)st.st_size) {
    free(data);
    log_error("static: short read on %s", path);
    reply_500(req);
    return;
  }
  snprintf(headers, sizeof(headers), "Last-Modified: %s\r\nCache-Control: public, max-age=0\r\n", lm);
  http_reply(req, 200, ctype, headers, data, got);
  free(data);
}

void static_serve_public(http_req_t *req, const static_files_t *s) {
  kds_buf path = KDS_BUF_INIT;
  int rc = static_resolve(s, req->path, &path);
  if (rc == 0) {
    send_file(req, path.base, static_content_type(path.base));
  } else if (rc == KDS_ESTATE) {
    /* A folder without its '/': redirect, as express.static does, so relative links work. */
    kds_buf h = KDS_BUF_INIT;
    if (kds_buf_addf(&h, "Location: %.*s/%s%.*s\r\n", (int)req->path.len, req->path.ptr,
                     req->query.ptr ? "?" : "", (int)req->query.len,
                     req->query.ptr ? req->query.ptr : "") != 0) {
      kds_buf_release(&h);
      reply_500(req);
    } else {
      static const char body[] = "Redirecting";
      http_reply(req, 301, "text/plain; charset=utf-8", h.base, body, sizeof(body) - 1);
      kds_buf_release(&h);
    }
  } else if (rc == KDS_ENOMEM) {
    reply_500(req);
  } else {
    if (rc == KDS_EINVAL)
      log_debug("static: refused path %.*s from %s", (int)req->path.len, req->path.ptr, req->peer);
    reply_404(req);
  }
  kds_buf_release(&path);
}

void static_serve_file(http_req_t *req, const static_files_t *s, const char *dir, const char *name,
                       const char *ctype) {
  kds_buf path = KDS_BUF_INIT;
  (void)s;
  if (dir == NULL || dir[0] == '\0' || strchr(name, '/') != NULL) {
    reply_404(req);
    return;
  }
  if (kds_buf_addf(&path, "%s/%s", dir, name) != 0) {
    kds_buf_release(&path);
    reply_500(req);
    return;
  }
  send_file(req, path.base, ctype);
  kds_buf_release(&path);
}

/* ---- the site on an HTTP server ------------------------------------------------------------- */

static void on_client_file(http_req_t *req, void *ud) {
  const static_client_file *f = ud;
  static_serve_file(req, &f->site->files, f->dir, f->name, f->ctype);
}

static void on_public(http_req_t *req, void *ud) {
  const static_site_t *site = ud;
  static_serve_public(req, &site->files);
}

int static_site_new(http_server_t *hs, const char *public_dir, const char *client_dir, const char *chart_dir,
                    static_site_t **out) {
  static const struct {
    int chart; /* 0: from client_dir under /socket.io/, 1: from chart_dir under /vendor/ */
    const char *name, *ctype;
  } bundle[STATIC_N_CLIENT_FILES] = {
      {0, "socket.io.js", "application/javascript; charset=utf-8"},
      {0, "socket.io.min.js", "application/javascript; charset=utf-8"},
      {0, "socket.io.js.map", "application/json; charset=utf-8"},
      {0, "socket.io.min.js.map", "application/json; charset=utf-8"},
      {1, "chart.umd.js", "application/javascript; charset=utf-8"},
      {1, "chart.umd.min.js", "application/javascript; charset=utf-8"},
      {1, "chart.umd.js.map", "application/json; charset=utf-8"},
      {1, "chart.umd.min.js.map", "application/json; charset=utf-8"},
  };
  static_site_t *site = calloc(1, sizeof(*site));
  int rc = KDS_ENOMEM;
  if (site == NULL) return KDS_ENOMEM;
  if ((site->client_dir = strdup(client_dir ? client_dir : "")) == NULL) goto fail;
  if ((site->chart_dir = strdup(chart_dir ? chart_dir : "")) == NULL) goto fail;
  if ((rc = static_init(&site->files, public_dir)) != 0) goto fail;
  for (size_t i = 0; i < STATIC_N_CLIENT_FILES; i++) {
    char pattern[64];
    site->client[i] = (static_client_file){site, bundle[i].chart ? site->chart_dir : site->client_dir,
                                           bundle[i].name, bundle[i].ctype};
    snprintf(pattern, sizeof(pattern), "/%s/%s", bundle[i].chart ? "vendor" : "socket.io", bundle[i].name);
    if ((rc = http_route_add(hs, "GET", pattern, on_client_file, &site->client[i], 0)) != 0) goto fail;
  }
  http_server_set_fallback(hs, on_public, site);
  *out = site;
  return 0;
fail:
  static_site_free(site);
  return rc;
}

void static_site_free(static_site_t *site) {
  if (site == NULL) return;
  static_release(&site->files);
  free(site->client_dir);
  free(site->chart_dir);
  free(site);
}
