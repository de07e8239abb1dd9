/* sse.h - incremental Server-Sent Events decoder (WHATWG HTML 9.2), no I/O.
 *
 * Feed arbitrary byte slices; complete events are reported through a callback
 * the moment their terminating blank line arrives. Handles LF, CRLF and CR
 * line ends (a CR at the end of one slice followed by LF at the start of the
 * next is one terminator), one leading UTF-8 BOM, comments, event/data/id/retry
 * fields, multi-line data joined with '\n', one optional space after the colon.
 *
 * Memory: the decoder owns its buffers (line remainder, data, event type, id),
 * bounded by max_pending; sse_free releases them. Nothing is allocated per event
 * once the buffers have grown to the stream's largest event.
 */
#ifndef MOONGATE_SSE_H
#define MOONGATE_SSE_H

#include <stddef.h>

typedef struct sse_event {
    const char *event;   size_t event_len;   /* "" (len 0) when no event: field */
    const char *data;    size_t data_len;    /* joined data lines, no trailing \n */
    const char *id;      size_t id_len;      /* last event id (persists), may be "" */
    long retry_ms;                            /* -1 when this event set no retry */
} sse_event_t;

/* Called for each dispatched event and (if comments are wanted) each comment.
 * Pointers are valid only during the call. Return 0 to go on, non-zero to stop
 * sse_feed immediately (it then returns SSE_STOPPED). */
typedef int (*sse_event_fn)(const sse_event_t *ev, void *arg);
typedef int (*sse_comment_fn)(const char *text, size_t len, void *arg);

typedef struct sse_decoder {
    char  *line;  size_t line_len,  line_cap;   /* current partial line */
    char  *data;  size_t data_len,  data_cap;
    char  *event; size_t event_len, event_cap;
    char  *id;    size_t id_len,    id_cap;
    long   retry_ms;
    size_t max_pending;          /* cap on line + data + event bytes held */
    int    bom_checked;          /* 0 until the first bytes were seen */
    int    bom_partial;          /* bytes of a BOM prefix seen so far */
    int    skip_lf;              /* last slice ended with CR */
    int    has_data;             /* a data: field was seen since last dispatch */
    /* Added after the first cut (additive): */
    long   reconnect_ms;         /* last valid retry: value, -1 if none; persists
                                    across events like the spec's reconnection time */
    int    error;                /* SSE_TOO_LARGE / SSE_NOMEM once failed, else 0 */
    size_t off;                  /* during a callback: bytes of the slice given to
                                    sse_feed consumed so far, up to and including the
                                    terminator of the line being processed (so a relay
                                    can pass each event's own bytes on untouched) */
} sse_decoder_t;

enum {
    SSE_OK = 0,
    SSE_STOPPED = 1,      /* a callback returned non-zero */
    SSE_TOO_LARGE = -1,   /* pending bytes exceeded max_pending; decoder unusable */
    SSE_NOMEM = -2,       /* a buffer could not grow; decoder unusable */
};

/* max_pending 0 means no cap (trusted input and tests only). */
void sse_init(sse_decoder_t *d, size_t max_pending);
/* Returns SSE_OK, SSE_STOPPED, SSE_TOO_LARGE or SSE_NOMEM. on_comment may be
 * NULL. The cap is checked per line: a line whose length plus the data and
 * event bytes already held exceeds max_pending fails, whether it arrived whole
 * or in pieces, so the outcome does not depend on how the stream was sliced.
 * After SSE_STOPPED the rest of buf is dropped; the decoder stays consistent
 * (just past the line whose callback stopped it) and may be fed again. After
 * an error every sse_feed returns the same error until sse_reset. */
int  sse_feed(sse_decoder_t *d, const char *buf, size_t len,
              sse_event_fn on_event, sse_comment_fn on_comment, void *arg);
/* Bytes currently held (partial line + pending data/event). */
size_t sse_pending(const sse_decoder_t *d);
void sse_reset(sse_decoder_t *d);   /* back to the initial state, keeps buffers */
void sse_free(sse_decoder_t *d);

#endif
