/* log.h - JSON-lines logging (one write(2) per line, so lines from several
 * worker threads never interleave). Owns only the log file descriptor. */
#ifndef MOONGATE_LOG_H
#define MOONGATE_LOG_H

#include <stddef.h>
#include <stdint.h>

enum { LOG_INFO, LOG_WARN, LOG_ERROR };

/* path NULL or "stderr": stderr. Returns 0, or -1 when the file can't be opened. */
int  log_open(const char *path);
/* Per worker thread: access lines of one loop turn go out in one write.
 * log_thread_done flushes and frees; call it before freeing the base. */
struct event_base;
int  log_thread_init(struct event_base *base);
void log_thread_done(void);
void log_event(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct log_access {
    const char *id, *method, *path, *route, *provider, *model, *abort;
    int attempts, status;
    double latency_ms, ttft_ms;      /* ttft < 0: never sent a byte */
    int64_t prompt_tokens, completion_tokens;   /* < 0: unknown */
} log_access_t;
void log_access(const log_access_t *a);

/* Appends s as JSON string contents (no quotes) to buf at *len, bounded by cap. */
void log_json_escape(char *buf, size_t *len, size_t cap, const char *s);
double log_now(void);   /* wall clock, seconds */

#endif
