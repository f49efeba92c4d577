/* log.h: levelled log lines, written and flushed at once (SPEC 11.16: a pipe sees them
 * immediately). info and debug go to stdout, warn and error to stderr. */
#ifndef KDS_LOG_H
#define KDS_LOG_H

enum kds_log_level { KDS_LOG_ERROR, KDS_LOG_WARN, KDS_LOG_INFO, KDS_LOG_DEBUG };

/* Sets the threshold from "error|warn|info|debug". Returns 0 or KDS_EINVAL. The level is
 * process-wide: it is set once at start-up, before any thread runs. */
int kds_log_set_level(const char *name);
void kds_log_set(enum kds_log_level level);
int kds_log_enabled(enum kds_log_level level);

void kds_log(enum kds_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) kds_log(KDS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) kds_log(KDS_LOG_WARN, __VA_ARGS__)
#define log_info(...) kds_log(KDS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) kds_log(KDS_LOG_DEBUG, __VA_ARGS__)

#endif
