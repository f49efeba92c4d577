/* model.c: open tickets and what is derived from them (see model.h). Pure C + cJSON. */
#include "model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>

#include "err.h"
#include "order.h"

static const char *const status_names[] = {"new", "preparing", "ready", "completed", "cancelled", "unknown"};
static const char *const status_labels[] = {"NEW", "PREPARING", "READY", "COMPLETED", "CANCELLED", "?"};

const char *model_status_name(enum ticket_status s) {
  return (unsigned)s <= TS_UNKNOWN ? status_names[s] : "unknown";
}

const char *model_status_label(enum ticket_status s) {
  return (unsigned)s <= TS_UNKNOWN ? status_labels[s] : "?";
}

enum ticket_status model_status_parse(const char *s) {
  if (!s) return TS_UNKNOWN;
  for (int i = 0; i < TS_UNKNOWN; i++)
    if (strcmp(s, status_names[i]) == 0) return (enum ticket_status)i;
  return TS_UNKNOWN;
}

static int is_open(enum ticket_status s) {
  return s == TS_NEW || s == TS_PREPARING || s == TS_READY;
}

/* ---- text: what reaches the terminal is valid UTF-8 with no control characters ---------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  size_t len;
  unsigned cp;
  if (p[0] < 0x80) return 1;
  if ((p[0] & 0xe0) == 0xc0)
    len = 2, cp = p[0] & 0x1f;
  else if ((p[0] & 0xf0) == 0xe0)
    len = 3, cp = p[0] & 0x0f;
  else if ((p[0] & 0xf8) == 0xf0)
    len = 4, cp = p[0] & 0x07;
  else
    return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  /* overlong forms, surrogates, past U+10FFFF, and the C1 controls U+0080..U+009F */
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
  return len;
}

/* A clean copy of s into *dst: at most MODEL_MAX_TEXT bytes (cut at a character boundary),
 * control characters as spaces, invalid bytes as '?', blanks at both ends trimmed. *dst is
 * NULL when s is NULL or empty after trimming. Returns 0 or KDS_ENOMEM. */
static int text_set(char **dst, const char *s) {
  size_t n, o = 0;
  char *out;
  *dst = NULL;
  if (!s) return 0;
  n = strlen(s);
  out = malloc((n < MODEL_MAX_TEXT ? n : MODEL_MAX_TEXT) + 1);
  if (!out) return KDS_ENOMEM;
  for (size_t i = 0; i < n;) {
    const unsigned char *p = (const unsigned char *)s + i;
    size_t len = utf8_seq(p, n - i);
    if (len == 0) {
      if (o + 1 > MODEL_MAX_TEXT) break;
      out[o++] = '?';
      i++;
    } else if (len == 1 || (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f)) {
      /* C0 controls, DEL and the C1 controls (U+0080..U+009F, which some terminals obey) */
      if (o + 1 > MODEL_MAX_TEXT) break;
      out[o++] = (len == 2 || p[0] < 0x20 || p[0] == 0x7f) ? ' ' : (char)p[0];
      i += len;
    } else {
      if (o + len > MODEL_MAX_TEXT) break;
      memcpy(out + o, p, len);
      o += len;
      i += len;
    }
  }
  while (o > 0 && out[o - 1] == ' ') o--;
  out[o] = '\0';
  size_t lead = 0;
  while (out[lead] == ' ') lead++;
  if (lead) memmove(out, out + lead, o - lead + 1);
  if (out[0] == '\0') {
    free(out);
    return 0;
  }
  *dst = out;
  return 0;
}

/* ---- time --------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int model_parse_time(const char *s, int64_t *out_ms) {
  int y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 1;
  const char *p;
  if (!s || strlen(s) < 19) return KDS_EINVAL;
  if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
      (s[10] != 'T' && s[10] != ' ') || digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
      s[16] != ':' || digits(s + 17, 2, &sec))
    return KDS_EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return KDS_EINVAL;
  p = s + 19;
  if (*p == '.') {
    int n = 0, scale = 100;
    p++;
    while (isdigit((unsigned char)*p)) {
      if (n < 3) ms += (*p - '0') * scale, scale /= 10;
      n++, p++;
    }
    if (n == 0) return KDS_EINVAL;
  }
  if (*p == 'Z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    sign = *p == '-' ? -1 : 1;
    if (digits(p + 1, 2, &oh)) return KDS_EINVAL;
    p += 3;
    if (*p == ':') p++;
    if (digits(p, 2, &om)) return KDS_EINVAL;
    p += 2;
    if (oh > 23 || om > 59) return KDS_EINVAL;
  } else {
    return KDS_EINVAL; /* no zone: ambiguous, the server always sends one */
  }
  if (*p) return KDS_EINVAL;
  int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
  secs -= sign * (oh * 3600 + om * 60);
  *out_ms = secs * 1000 + ms;
  return 0;
}

void model_local_date(int64_t ms, char out[11]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!localtime_r(&t, &tm)) {
    strcpy(out, "0000-00-00");
    return;
  }
  strftime(out, 11, "%Y-%m-%d", &tm);
}

/* ---- tickets ------------------------------------------------------------------------------ */

static void ticket_free(ticket_t *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nlines; i++) {
    free(t->lines[i].category);
    free(t->lines[i].name);
    free(t->lines[i].note);
    for (size_t k = 0; k < t->lines[i].nmods; k++) free(t->lines[i].mods[k]);
    free(t->lines[i].mods);
  }
  free(t->lines);
  free(t->note);
  free(t->context);
  free(t);
}

static int station_match(const model_t *m, const char *category) {
  if (m->nstations == 0) return 1;
  if (!category) return 0;
  for (size_t i = 0; i < m->nstations; i++)
    if (strcasecmp(m->stations[i], category) == 0) return 1;
  return 0;
}

static const char *json_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Copies the lines of a parsed order (shared/order.h) into the ticket, cleaned for the
 * terminal, with the SPEC 10 per-line extras (note, done) read from the JSON `lines`. */
static int copy_lines(ticket_t *t, const order_t *o, const cJSON *json) {
  const cJSON *jlines = cJSON_GetObjectItemCaseSensitive(json, "lines");
  const cJSON *done = cJSON_GetObjectItemCaseSensitive(json, "done_lines");
  const cJSON *jl = cJSON_IsArray(jlines) ? jlines->child : NULL;
  size_t n = o->nlines < MODEL_MAX_LINES ? o->nlines : MODEL_MAX_LINES;
  int64_t *rank;
  if (n == 0) return 0;
  t->lines = calloc(n, sizeof(*t->lines));
  rank = malloc(n * sizeof(*rank));
  if (!t->lines || !rank) {
    free(rank);
    return KDS_ENOMEM;
  }
  for (size_t i = 0, pos = 0; i < n; i++, pos++) {
    const order_line *ol = &o->lines[i];
    const cJSON *extra = NULL;
    model_line *l = &t->lines[t->nlines];
    /* order_from_json skips entries that are not objects: walk the JSON the same way */
    while (jl && !cJSON_IsObject(jl)) jl = jl->next, pos++;
    if (jl) extra = jl, jl = jl->next;
    if (text_set(&l->name, ol->name)) goto nomem;
    if (!l->name) continue; /* a nameless line says nothing to the kitchen */
    if (text_set(&l->category, ol->category)) goto nomem;
    l->qty = ol->qty > 0 && ol->qty < 1000000 ? (int)ol->qty : 0;
    l->done = ol->done;
    if (ol->nmodifiers) {
      size_t nm = ol->nmodifiers < MODEL_MAX_MODS ? ol->nmodifiers : MODEL_MAX_MODS;
      l->mods = calloc(nm, sizeof(*l->mods));
      if (!l->mods) goto nomem;
      for (size_t k = 0; k < nm; k++) {
        if (text_set(&l->mods[l->nmods], ol->modifiers[k])) goto nomem;
        if (l->mods[l->nmods]) l->nmods++; /* a blank modifier says nothing */
      }
    }
    if (extra) {
      l->n = (int64_t)pos + 1; /* the server numbers lines 1.. in `lines` order (SPEC 10.3) */
      if (text_set(&l->note, json_str(extra, "note"))) goto nomem;
      l->done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(extra, "done"));
    }
    if (cJSON_IsArray(done)) {
      const cJSON *d;
      cJSON_ArrayForEach(d, done) if (cJSON_IsNumber(d) && d->valuedouble == (double)pos) l->done = 1;
    }
    rank[t->nlines] = ol->category_sort;
    t->nlines++;
  }
  /* Group by category in the order's display order; insertion sort keeps line order. */
  for (size_t i = 1; i < t->nlines; i++) {
    model_line x = t->lines[i];
    int64_t rx = rank[i];
    size_t j = i;
    while (j > 0 && rank[j - 1] > rx) {
      t->lines[j] = t->lines[j - 1];
      rank[j] = rank[j - 1];
      j--;
    }
    t->lines[j] = x;
    rank[j] = rx;
  }
  free(rank);
  return 0;
nomem: /* the line being filled is not counted in nlines yet: free its parts here */
  free(t->lines[t->nlines].name);
  free(t->lines[t->nlines].category);
  free(t->lines[t->nlines].note);
  for (size_t k = 0; k < t->lines[t->nlines].nmods; k++) free(t->lines[t->nlines].mods[k]);
  free(t->lines[t->nlines].mods);
  memset(&t->lines[t->nlines], 0, sizeof(t->lines[0]));
  free(rank);
  return KDS_ENOMEM;
}

static int context_of(const cJSON *order, char **out) {
  char buf[MODEL_MAX_TEXT * 3 + 16];
  const char *type = json_str(order, "order_type");
  const char *table = json_str(order, "table");
  const char *cust = json_str(order, "customer_name");
  const cJSON *tnum = cJSON_GetObjectItemCaseSensitive(order, "table");
  char tbuf[32] = "";
  size_t o = 0;
  buf[0] = '\0';
  if (!table && cJSON_IsNumber(tnum)) {
    snprintf(tbuf, sizeof(tbuf), "%.0f", tnum->valuedouble);
    table = tbuf;
  }
  if (type) {
    const char *label = strcmp(type, "dine_in") == 0    ? "DINE IN"
                        : strcmp(type, "takeaway") == 0 ? "TAKEAWAY"
                        : strcmp(type, "delivery") == 0 ? "DELIVERY"
                                                        : type;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%.40s", label);
  }
  if (table && o < sizeof(buf))
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%sT%.20s", o ? " " : "", table);
  if (cust && o < sizeof(buf)) snprintf(buf + o, sizeof(buf) - o, "%s%.80s", buf[0] ? " " : "", cust);
  return text_set(out, buf);
}

/* Builds a ticket from an order object (parsed with shared/order.h). Returns 0,
 * KDS_EINVAL (not an order) or KDS_ENOMEM. */
static int ticket_parse(model_t *m, const cJSON *json, ticket_t **out) {
  order_t o;
  ticket_t *t;
  int rc;
  *out = NULL;
  order_init(&o);
  rc = order_from_json(json, &o);
  if (rc) return rc;
  if (!o.invoice_number[0]) {
    order_release(&o);
    return KDS_EINVAL;
  }
  t = calloc(1, sizeof(*t));
  if (!t) {
    order_release(&o);
    return KDS_ENOMEM;
  }
  for (size_t i = 0; o.invoice_number[i] && i + 1 < sizeof(t->invoice); i++) /* printable ASCII only */
    t->invoice[i] = (o.invoice_number[i] > 0x20 && o.invoice_number[i] < 0x7f) ? o.invoice_number[i] : '?';
  /* no status at all: a seed-only server, whose orders are new; any other value must be known */
  t->status = cJSON_GetObjectItemCaseSensitive(json, "status") ? model_status_parse(o.status) : TS_NEW;
  if (model_parse_time(o.created_at, &t->created_ms) != 0) t->created_ms = 0;
  if (model_parse_time(o.updated_at, &t->updated_ms) != 0) t->updated_ms = t->created_ms;
  t->outlet_id = o.outlet_id;
  t->rush = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "rush"));
  rc = text_set(&t->note, o.note);
  if (!rc) rc = context_of(json, &t->context);
  if (!rc) rc = copy_lines(t, &o, json);
  order_release(&o);
  if (rc) {
    ticket_free(t);
    return rc;
  }
  for (size_t i = 0; i < t->nlines; i++) {
    t->lines[i].visible = station_match(m, t->lines[i].category);
    t->nvisible += (size_t)t->lines[i].visible;
    t->nopen += (size_t)(t->lines[i].visible && !t->lines[i].done);
  }
  *out = t;
  return 0;
}

/* ---- the sorted set ---------------------------------------------------------------------- */

static int ticket_before(const ticket_t *a, const ticket_t *b) {
  if (a->rush != b->rush) return a->rush > b->rush;
  if (a->created_ms != b->created_ms) return a->created_ms < b->created_ms;
  return strcmp(a->invoice, b->invoice) < 0;
}

static ssize_t find_index(const model_t *m, const char *invoice) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->tickets[i]->invoice, invoice) == 0) return (ssize_t)i;
  return -1;
}

ticket_t *model_find(model_t *m, const char *invoice) {
  ssize_t i = invoice ? find_index(m, invoice) : -1;
  return i < 0 ? NULL : m->tickets[i];
}

/* A station screen bumps its own lines (SPEC 10.3): once they are all done, the ticket has
 * left that station, as a bumped order leaves every screen. */
static int shown_here(const model_t *m, const ticket_t *t) {
  return t->nvisible > 0 && (m->nstations == 0 || t->nopen > 0);
}

/* Rebuilds vis (the open tickets this screen shows) and disp (vis plus the leaving tickets,
 * each where its order puts it). */
static void rebuild_visible(model_t *m) {
  size_t need = m->n + m->nleaving, a = 0, b = 0;
  m->nvis = 0;
  for (size_t i = 0; i < m->n; i++)
    if (shown_here(m, m->tickets[i])) m->vis[m->nvis++] = m->tickets[i];
  m->version++;
  if (need > m->disp_cap) {
    ticket_t **p = realloc(m->disp, need * sizeof(*p));
    if (p) {
      m->disp = p;
      m->disp_cap = need;
    }
  }
  m->ndisp = 0;
  while ((a < m->nvis || b < m->nleaving) && m->ndisp < m->disp_cap) {
    if (b < m->nleaving && (a == m->nvis || ticket_before(m->leaving[b], m->vis[a])))
      m->disp[m->ndisp++] = m->leaving[b++];
    else
      m->disp[m->ndisp++] = m->vis[a++];
  }
}

/* Moves a closed ticket to the leaving list (kept sorted like the tickets), the oldest
 * leaving one dropped when it is full. */
static void leaving_add(model_t *m, ticket_t *t, enum ticket_gone why, int64_t now_ms) {
  size_t pos;
  if (!shown_here(m, t)) { /* this screen never showed it: nothing to warn about */
    ticket_free(t);
    return;
  }
  t->gone = why;
  t->gone_ms = now_ms;
  t->pending = 0;
  if (m->nleaving == MODEL_LEAVING_MAX) {
    size_t old = 0;
    for (size_t i = 1; i < m->nleaving; i++)
      if (m->leaving[i]->gone_ms < m->leaving[old]->gone_ms) old = i;
    ticket_free(m->leaving[old]);
    memmove(&m->leaving[old], &m->leaving[old + 1], (m->nleaving - old - 1) * sizeof(m->leaving[0]));
    m->nleaving--;
  }
  pos = m->nleaving;
  while (pos > 0 && ticket_before(t, m->leaving[pos - 1])) pos--;
  memmove(&m->leaving[pos + 1], &m->leaving[pos], (m->nleaving - pos) * sizeof(m->leaving[0]));
  m->leaving[pos] = t;
  m->nleaving++;
}

size_t model_tick(model_t *m, int64_t now_ms) {
  size_t gone = 0;
  for (size_t i = 0; i < m->nleaving;) {
    if (now_ms - m->leaving[i]->gone_ms >= MODEL_LEAVE_MS || now_ms < m->leaving[i]->gone_ms) {
      ticket_free(m->leaving[i]);
      memmove(&m->leaving[i], &m->leaving[i + 1], (m->nleaving - i - 1) * sizeof(m->leaving[0]));
      m->nleaving--;
      gone++;
    } else {
      i++;
    }
  }
  if (gone) rebuild_visible(m);
  return gone;
}

/* Did an update change what the kitchen makes (lines, quantities, notes, modifiers) or the
 * rush? Done marks are progress, not a change. */
static int content_changed(const ticket_t *a, const ticket_t *b) {
  if (a->rush != b->rush || a->nlines != b->nlines) return 1;
  for (size_t i = 0; i < a->nlines; i++) {
    const model_line *x = &a->lines[i], *y = &b->lines[i];
    if (x->qty != y->qty || x->nmods != y->nmods || strcmp(x->name, y->name) != 0 ||
        (x->note == NULL) != (y->note == NULL) || (x->note && strcmp(x->note, y->note) != 0))
      return 1;
    for (size_t k = 0; k < x->nmods; k++)
      if (strcmp(x->mods[k], y->mods[k]) != 0) return 1;
  }
  return 0;
}

static int insert_sorted(model_t *m, ticket_t *t) {
  size_t pos = m->n;
  if (m->n >= MODEL_MAX_TICKETS) {
    m->refused++;
    return KDS_EFULL;
  }
  if (m->n == m->cap) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    ticket_t **p = realloc(m->tickets, ncap * sizeof(*p));
    if (!p) return KDS_ENOMEM;
    m->tickets = p;
    p = realloc(m->vis, ncap * sizeof(*p));
    if (!p) return KDS_ENOMEM; /* m->tickets grew already: harmless, cap stays */
    m->vis = p;
    m->cap = ncap;
  }
  while (pos > 0 && ticket_before(t, m->tickets[pos - 1])) pos--;
  memmove(&m->tickets[pos + 1], &m->tickets[pos], (m->n - pos) * sizeof(*m->tickets));
  m->tickets[pos] = t;
  m->n++;
  return 0;
}

static ticket_t *remove_at(model_t *m, size_t i) {
  ticket_t *t = m->tickets[i];
  memmove(&m->tickets[i], &m->tickets[i + 1], (m->n - i - 1) * sizeof(*m->tickets));
  m->n--;
  return t;
}

static void tomb_add(model_t *m, const char *invoice, int64_t updated_ms) {
  for (size_t i = 0; i < m->ntombs; i++) {
    if (strcmp(m->tombs[i].invoice, invoice) == 0) {
      if (updated_ms > m->tombs[i].updated_ms) m->tombs[i].updated_ms = updated_ms;
      return;
    }
  }
  size_t at = m->tomb_next;
  snprintf(m->tombs[at].invoice, sizeof(m->tombs[at].invoice), "%s", invoice);
  m->tombs[at].updated_ms = updated_ms;
  m->tomb_next = (at + 1) % MODEL_TOMBS;
  if (m->ntombs < MODEL_TOMBS) m->ntombs++;
}

static const int64_t *tomb_find(const model_t *m, const char *invoice) {
  for (size_t i = 0; i < m->ntombs; i++)
    if (strcmp(m->tombs[i].invoice, invoice) == 0) return &m->tombs[i].updated_ms;
  return NULL;
}

static void tomb_forget(model_t *m, const char *invoice) {
  for (size_t i = 0; i < m->ntombs; i++)
    if (strcmp(m->tombs[i].invoice, invoice) == 0) m->tombs[i].invoice[0] = '\0';
}

/* ---- stats -------------------------------------------------------------------------------- */

static void stats_roll(model_t *m, int64_t now_ms) {
  char today[11];
  model_local_date(now_ms, today);
  if (strcmp(today, m->today) != 0) {
    memcpy(m->today, today, sizeof(today));
    m->nstats = 0;
  }
}

/* Records the created->ready time of a ticket that became ready (once per invoice: a recall
 * and a second bump replace the first measure). Failure to grow just skips the sample. */
static void stats_ready(model_t *m, const ticket_t *t, int64_t now_ms) {
  char day[11];
  if (t->created_ms <= 0 || t->updated_ms < t->created_ms) return;
  stats_roll(m, now_ms);
  model_local_date(t->created_ms, day);
  if (strcmp(day, m->today) != 0) return;
  int64_t secs = (t->updated_ms - t->created_ms) / 1000;
  for (size_t i = 0; i < m->nstats; i++) {
    if (strcmp(m->stats[i].invoice, t->invoice) == 0) {
      m->stats[i].secs = secs;
      return;
    }
  }
  if (m->nstats == m->stats_cap) {
    size_t ncap = m->stats_cap ? m->stats_cap * 2 : 64;
    if (ncap > 100000) return;
    model_stat *p = realloc(m->stats, ncap * sizeof(*p));
    if (!p) return;
    m->stats = p;
    m->stats_cap = ncap;
  }
  snprintf(m->stats[m->nstats].invoice, sizeof(m->stats[0].invoice), "%s", t->invoice);
  m->stats[m->nstats].secs = secs;
  m->nstats++;
}

int64_t model_avg_ticket_secs(model_t *m, int64_t now_ms, size_t *count) {
  int64_t sum = 0;
  stats_roll(m, now_ms);
  if (count) *count = m->nstats;
  if (m->nstats == 0) return -1;
  for (size_t i = 0; i < m->nstats; i++) sum += m->stats[i].secs;
  return sum / (int64_t)m->nstats;
}

/* ---- applying ----------------------------------------------------------------------------- */

/* Inserts, replaces or removes according to the parsed ticket `t` (ownership taken). */
static int upsert(model_t *m, ticket_t *t, int64_t now_ms, int highlight, ticket_t **out) {
  ssize_t i = find_index(m, t->invoice);
  ticket_t *old = i >= 0 ? m->tickets[i] : NULL;
  int rc;
  if (out) *out = NULL;
  if (old && t->updated_ms < old->updated_ms) {
    ticket_free(t);
    return MODEL_STALE;
  }
  if (!old) {
    const int64_t *tomb = tomb_find(m, t->invoice);
    if (tomb && *tomb > t->updated_ms) {
      ticket_free(t);
      return MODEL_STALE;
    }
  }
  if (!is_open(t->status)) {
    tomb_add(m, t->invoice, t->updated_ms);
    if (!old) {
      ticket_free(t);
      return MODEL_NONE;
    }
    old = remove_at(m, (size_t)i);
    if (t->status == TS_CANCELLED && highlight) {
      /* a cook must stop cooking it: it stays up, marked, for a few seconds (SPEC 10.8) */
      old->status = TS_CANCELLED;
      leaving_add(m, old, TG_CANCELLED, now_ms);
    } else {
      ticket_free(old);
    }
    ticket_free(t);
    rebuild_visible(m);
    return MODEL_REMOVED;
  }
  if (t->status == TS_READY && (!old || old->status != TS_READY)) stats_ready(m, t, now_ms);
  if (old) {
    t->seen_ms = old->seen_ms;
    t->pending = old->pending;
    t->changed_ms = highlight && content_changed(old, t) ? now_ms : old->changed_ms;
    t->load_gen = old->load_gen;
    ticket_free(remove_at(m, (size_t)i));
  } else {
    t->seen_ms = highlight ? now_ms : 0;
    tomb_forget(m, t->invoice);
  }
  rc = insert_sorted(m, t);
  if (rc) {
    ticket_free(t);
    rebuild_visible(m);
    return rc;
  }
  rebuild_visible(m);
  if (out) *out = t;
  return old ? MODEL_UPDATED : MODEL_ADDED;
}

int model_apply(model_t *m, const char *event, const cJSON *payload, int64_t now_ms, ticket_t **out) {
  ticket_t *t;
  int rc;
  if (out) *out = NULL;
  if (!event) return MODEL_NONE;
  if (strcmp(event, "order-deleted") == 0) {
    const char *inv = json_str(payload, "invoice_number");
    ssize_t i;
    if (!inv || !*inv || strlen(inv) >= sizeof(t->invoice)) return KDS_EINVAL;
    tomb_add(m, inv, INT64_MAX); /* a voided number is never reused (SPEC 11.12) */
    i = find_index(m, inv);
    if (i < 0) return MODEL_NONE;
    leaving_add(m, remove_at(m, (size_t)i), TG_VOIDED, now_ms);
    rebuild_visible(m);
    return MODEL_REMOVED;
  }
  if (strcmp(event, "new-order") != 0 && strcmp(event, "order-updated") != 0) return MODEL_NONE;
  rc = ticket_parse(m, payload, &t);
  if (rc) return rc;
  return upsert(m, t, now_ms, 1, out);
}

int model_load(model_t *m, const cJSON *list, int64_t now_ms, int highlight, size_t *added) {
  const cJSON *it;
  size_t n = 0;
  uint64_t gen;
  if (added) *added = 0;
  if (!cJSON_IsArray(list)) return KDS_EINVAL;
  gen = ++m->load_gen;
  /* Close what the listing no longer has (completed or voided while we were away). */
  for (size_t i = m->n; i-- > 0;) {
    const char *inv = m->tickets[i]->invoice;
    int found = 0;
    cJSON_ArrayForEach(it, list) {
      const char *x = json_str(it, "invoice_number");
      if (x && strcmp(x, inv) == 0) {
        found = 1;
        break;
      }
    }
    if (!found) {
      tomb_add(m, inv, m->tickets[i]->updated_ms);
      ticket_free(remove_at(m, i));
    }
  }
  cJSON_ArrayForEach(it, list) {
    ticket_t *t;
    int rc = ticket_parse(m, it, &t);
    if (rc == KDS_EINVAL) continue;
    if (rc) {
      rebuild_visible(m);
      return rc;
    }
    /* The listing is the truth as of now: it overrides tombstones (a recalled order). */
    tomb_forget(m, t->invoice);
    rc = upsert(m, t, now_ms, highlight, &t);
    if (rc == MODEL_ADDED)
      t->load_gen = gen;
    else if (rc == KDS_ENOMEM) {
      rebuild_visible(m);
      return rc;
    }
  }
  rebuild_visible(m);
  /* counted at the end: a listing that names an invoice twice (added, then closed) adds it
   * once or not at all, as the screen shows it */
  for (size_t i = 0; i < m->n; i++) n += m->tickets[i]->load_gen == gen;
  if (added) *added = n;
  return 0;
}

void model_set_pending(model_t *m, const char *invoice, int pending) {
  ticket_t *t = model_find(m, invoice);
  if (t && t->pending != pending) {
    t->pending = pending;
    m->version++;
  }
}

/* ---- recall ------------------------------------------------------------------------------- */

void model_recall_push(model_t *m, const char *invoice, enum ticket_status from, enum ticket_status to,
                       int64_t now_ms) {
  model_recall *r;
  if (m->nrecall == MODEL_RECALL_MAX) {
    memmove(&m->recall[0], &m->recall[1], (MODEL_RECALL_MAX - 1) * sizeof(m->recall[0]));
    m->nrecall--;
  }
  r = &m->recall[m->nrecall++];
  snprintf(r->invoice, sizeof(r->invoice), "%s", invoice);
  r->from = from;
  r->to = to;
  r->at_ms = now_ms;
  m->version++;
}

int model_recall_pop(model_t *m, int64_t now_ms, model_recall *out) {
  while (m->nrecall > 0) {
    model_recall *r = &m->recall[--m->nrecall];
    m->version++;
    if (now_ms - r->at_ms <= MODEL_RECALL_MS) {
      *out = *r;
      return 0;
    }
    /* The newest is too old, so are the older ones: drop them all. */
    m->nrecall = 0;
  }
  return KDS_ENOTFOUND;
}

/* ---- derived ------------------------------------------------------------------------------ */

int64_t model_age_ms(const model_t *m, const ticket_t *t, int64_t now_ms) {
  now_ms += m->skew_ms;
  if (t->created_ms <= 0 || now_ms < t->created_ms) return 0;
  return now_ms - t->created_ms;
}

int model_age_level(const model_t *m, const ticket_t *t, int64_t now_ms) {
  int64_t age = model_age_ms(m, t, now_ms);
  if (t->status == TS_READY) return 0; /* done cooking: waiting for pick-up is not late cooking */
  return age >= m->late_ms ? 2 : age >= m->warn_ms ? 1 : 0;
}

size_t model_late_count(const model_t *m, int64_t now_ms) {
  size_t n = 0;
  for (size_t i = 0; i < m->nvis; i++) n += model_age_level(m, m->vis[i], now_ms) == 2;
  return n;
}

long model_allday(const model_t *m, model_allday_row **rows) {
  model_allday_row *r = NULL;
  size_t n = 0, cap = 0;
  *rows = NULL;
  for (size_t i = 0; i < m->nvis; i++) {
    const ticket_t *t = m->vis[i];
    for (size_t j = 0; j < t->nlines; j++) {
      const model_line *l = &t->lines[j];
      size_t k;
      if (!l->visible || l->done) continue;
      for (k = 0; k < n; k++) {
        if (strcmp(r[k].name, l->name) == 0 &&
            ((r[k].category == NULL && l->category == NULL) ||
             (r[k].category && l->category && strcmp(r[k].category, l->category) == 0)))
          break;
      }
      if (k == n) {
        if (n == cap) {
          size_t ncap = cap ? cap * 2 : 32;
          model_allday_row *p = realloc(r, ncap * sizeof(*p));
          if (!p) {
            free(r);
            return KDS_ENOMEM;
          }
          r = p;
          cap = ncap;
        }
        r[n].category = l->category;
        r[n].name = l->name;
        r[n].todo = r[n].ready = 0;
        n++;
      }
      long q = l->qty > 0 ? l->qty : 1;
      if (t->status == TS_READY)
        r[k].ready += q;
      else
        r[k].todo += q;
    }
  }
  /* Group rows by category in the order categories first appeared, names sorted within:
   * rank = index of the category's first row; insertion sort on (rank, name) is stable. */
  size_t *rank = n ? malloc(n * sizeof(*rank)) : NULL;
  if (n && !rank) {
    free(r);
    return KDS_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    rank[i] = i;
    for (size_t k = 0; k < i; k++) {
      if ((r[k].category == NULL && r[i].category == NULL) ||
          (r[k].category && r[i].category && strcmp(r[k].category, r[i].category) == 0)) {
        rank[i] = rank[k];
        break;
      }
    }
  }
  for (size_t i = 1; i < n; i++) {
    model_allday_row x = r[i];
    size_t xr = rank[i], j = i;
    while (j > 0 && (rank[j - 1] > xr || (rank[j - 1] == xr && strcmp(r[j - 1].name, x.name) > 0))) {
      r[j] = r[j - 1];
      rank[j] = rank[j - 1];
      j--;
    }
    r[j] = x;
    rank[j] = xr;
  }
  free(rank);
  *rows = r;
  return (long)n;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int model_init(model_t *m, const char *stations) {
  memset(m, 0, sizeof(*m));
  m->warn_ms = 5 * 60 * 1000;
  m->late_ms = 10 * 60 * 1000;
  if (stations) {
    const char *p = stations;
    while (*p) {
      const char *e = strchr(p, ',');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      while (len && (*p == ' ' || *p == '\t')) p++, len--;
      while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
      if (len) {
        if (m->nstations == MODEL_MAX_STATIONS) goto fail_inval;
        m->stations[m->nstations] = strndup(p, len);
        if (!m->stations[m->nstations]) {
          model_release(m);
          return KDS_ENOMEM;
        }
        m->nstations++;
      }
      if (!e) break;
      p = e + 1;
    }
    if (m->nstations == 0) goto fail_inval;
  }
  return 0;
fail_inval:
  model_release(m);
  return KDS_EINVAL;
}

void model_release(model_t *m) {
  for (size_t i = 0; i < m->n; i++) ticket_free(m->tickets[i]);
  free(m->tickets);
  free(m->vis);
  free(m->disp);
  for (size_t i = 0; i < m->nleaving; i++) ticket_free(m->leaving[i]);
  for (size_t i = 0; i < m->nstations; i++) free(m->stations[i]);
  free(m->stats);
  memset(m, 0, sizeof(*m));
}
