/* plain.c: --plain output: one line per event on stdout, no curses (logs, pipes, tests).
 *   10:15:02 new-order INV-20231103-0001 new 00:00 | ISI CORNDOG: 2x Corndog Sosis | SAUS ASIN: 1x Saus Tomat
 * | note: no onion Text comes from the model, already cleaned of control characters. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"

static void stamp(FILE *out, int64_t now_ms) {
  time_t t = (time_t)(now_ms / 1000);
  struct tm tm;
  char buf[16];
  localtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
  fputs(buf, out);
  fputc(' ', out);
}

void plain_line(FILE *out, int64_t now_ms, const char *fmt, ...) {
  va_list ap;
  stamp(out, now_ms);
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
  fputc('\n', out);
  fflush(out);
}

void plain_ticket(FILE *out, int64_t now_ms, const char *what, const model_t *m, const ticket_t *t) {
  const char *cat = NULL;
  int64_t age = model_age_ms(m, t, now_ms) / 1000;
  stamp(out, now_ms);
  fprintf(out, "%s %s %s %02d:%02d", what, t->invoice, model_status_name(t->status), (int)(age / 60),
          (int)(age % 60));
  if (model_age_level(m, t, now_ms) == 2) fputs(" LATE", out);
  if (t->rush) fputs(" RUSH", out);
  if (t->context) fprintf(out, " (%s)", t->context);
  for (size_t i = 0; i < t->nlines; i++) {
    const model_line *l = &t->lines[i];
    if (!l->visible) continue;
    if (!cat || !l->category || strcmp(cat, l->category) != 0) {
      fprintf(out, " | %s:", l->category ? l->category : "-");
      cat = l->category;
    } else {
      fputc(',', out);
    }
    if (l->qty > 0)
      fprintf(out, " %dx %s", l->qty, l->name);
    else
      fprintf(out, " %s", l->name);
    for (size_t k = 0; k < l->nmods; k++) fprintf(out, " +%s", l->mods[k]);
    if (l->note) fprintf(out, " (%s)", l->note);
    if (l->done) fputs(" [done]", out);
  }
  if (t->note) fprintf(out, " | note: %s", t->note);
  fputc('\n', out);
  fflush(out);
}
