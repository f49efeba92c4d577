/* static.h: files from the public/ folder and the socket.io-client bundle, for GET and
 * HEAD; static_site_new wires both onto an HTTP server (this module sits above http.h).
 * Paths are checked before any file is touched: bad or encoded escapes, `..` and any
 * dot-segment or dotfile, encoded '/' or '\', NUL, and anything that resolves (symlinks
 * included) outside the folder are all a 404, as the Node reference answers them. */
#ifndef KDS_STATIC_H
#define KDS_STATIC_H

#include "buf.h"
#include "http.h"

#define STATIC_MAX_FILE (32u * 1024 * 1024)

typedef struct static_files {
  char *public_real; /* realpath of the public folder; NULL when it does not exist */
} static_files_t;

/* Resolves the public folder (a missing folder is not an error: every lookup is a 404).
 * Returns 0 or KDS_ENOMEM. Release with static_release (safe on a zeroed struct). */
int static_init(static_files_t *s, const char *public_dir);
void static_release(static_files_t *s);

/* Maps the raw (percent-encoded) request path to a file path under the public folder,
 * written to `out` (reset first). "/" and paths ending in '/' map to index.html. Returns 0
 * (the file exists: a regular file inside the folder), KDS_EINVAL (refused: traversal,
 * bad encoding, dotfile...), KDS_ENOTFOUND (no such file), KDS_ESTATE (a directory: the
 * caller redirects to path + "/") or KDS_ENOMEM. */
int static_resolve(const static_files_t *s, kds_slice raw_path, kds_buf *out);

/* The Content-Type for a file name, by extension (application/octet-stream if unknown). */
const char *static_content_type(const char *path);

/* Answers a GET/HEAD for req->path from the public folder: the file, a 301 for a folder
 * without its trailing '/', or the 404 JSON. Frees req (it is answered). */
void static_serve_public(http_req_t *req, const static_files_t *s);

/* Answers with the file `name` (a plain file name, no '/') of folder `dir` and content type
 * `ctype`, or 404 when the folder is empty or the file missing. Frees req. */
void static_serve_file(http_req_t *req, const static_files_t *s, const char *dir, const char *name,
                       const char *ctype);

/* The static part of kds-server's site on one HTTP server: GET (and HEAD) of
 * /socket.io/socket.io{,.min}.js{,.map} from the socket.io-client dist/ folder,
 * /vendor/chart.umd{,.min}.js{,.map} from the chart.js dist/ folder, and the public folder for
 * every GET/HEAD no route matches (the HTTP server's fallback). */
typedef struct static_client_file {
  struct static_site *site;
  const char *dir;   /* the folder it is read from: the site's client_dir or chart_dir */
  const char *name;  /* file name in dir, and the last part of its route */
  const char *ctype; /* its Content-Type */
} static_client_file;

#define STATIC_N_CLIENT_FILES 8 /* 4 socket.io-client files, 4 chart.js files */

typedef struct static_site {
  static_files_t files; /* the public folder */
  char *client_dir;     /* the client bundle's folder; "" : none (its routes are 404s) */
  char *chart_dir;      /* chart.js's dist/ folder; "" : none */
  static_client_file client[STATIC_N_CLIENT_FILES]; /* route data: the site's address must not move */
} static_site_t;

/* Creates the site for `public_dir`, `client_dir` and `chart_dir` (each NULL or "": none; all
 * copied),
 * registers the bundle's routes on `hs` and makes the public folder its fallback. The site
 * must outlive every request of `hs`: free it after http_server_close has finished. Returns
 * 0, KDS_ENOMEM or the error of http_route_add; on error nothing is left allocated (routes
 * already registered stay, so close `hs` then). */
int static_site_new(http_server_t *hs, const char *public_dir, const char *client_dir, const char *chart_dir,
                    static_site_t **out);

/* Frees the site; NULL is a no-op. */
void static_site_free(static_site_t *site);

#endif
