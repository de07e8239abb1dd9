/* sse.c - incremental Server-Sent Events decoder (WHATWG HTML 9.2.6), no I/O.
 *
 * Owns: the decoder's four buffers (partial line, data, event type, last id).
 * The caller owns the decoder struct and every slice it feeds; nothing here
 * keeps a pointer into a slice after sse_feed returns.
 *
 * Hot path (runs on every upstream byte):
 *  - line ends are found with memchr for '\n' and for '\r', each result cached
 *    until the cursor passes it, so each byte is scanned at most twice per slice
 *    however the two kinds interleave;
 *  - a line entirely inside the slice is processed where it lies; only the
 *    unterminated tail of a slice is copied into the line buffer;
 *  - the common "data: {...}\n\n" event is not copied at all: a first data line
 *    that lies in the slice is remembered as a pointer (feed_t.ext) and handed
 *    to the callback in place if the blank line follows in the same slice; it
 *    is copied into the data buffer only when a second data line arrives or the
 *    slice ends first;
 *  - buffers grow by doubling and are kept across events and sse_reset.
 */
#include "sse.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* First allocation of any buffer: one typical chat-completion chunk fits,
 * so most streams allocate each buffer once and never again. */
#define SSE_MIN_CAP 256

/* State of one sse_feed call, so helpers can reach the callbacks and the
 * not-yet-copied data line without widening the public struct. */
typedef struct feed {
    sse_decoder_t *d;
    sse_event_fn   on_event;
    sse_comment_fn on_comment;
    void          *arg;
    const char    *ext;      /* sole data line so far, still in the slice */
    size_t         ext_len;  /* its length, without the '\n' it stands for */
} feed_t;

static int buf_reserve(char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : SSE_MIN_CAP;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    char *nb = realloc(*b, n);
    if (!nb)
        return -1;
    *b = nb;
    *cap = n;
    return 0;
}

static int buf_set(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (buf_reserve(b, cap, n) < 0)
        return -1;
    if (n)
        memcpy(*b, s, n);
    *len = n;
    return 0;
}

static int fail(sse_decoder_t *d, int err)
{
    d->error = err;
    return err;
}

/* Data bytes held, counting an in-place line as the copy it stands for. */
static size_t data_held(const feed_t *f)
{
    return f->ext ? f->ext_len + 1 : f->d->data_len;
}

/* The cap is applied to whole lines (see sse.h) so that the verdict is the
 * same whether a line came in one slice or byte by byte. */
static int over_cap(const feed_t *f, size_t line_len)
{
    const sse_decoder_t *d = f->d;
    return line_len + data_held(f) + d->event_len > d->max_pending;
}

/* Moves an in-place data line into the data buffer (before the slice it
 * points into goes away, or before a second data line is appended). */
static int spill(feed_t *f)
{
    sse_decoder_t *d = f->d;
    if (!f->ext)
        return 0;
    if (buf_reserve(&d->data, &d->data_cap, f->ext_len + 1) < 0)
        return -1;
    if (f->ext_len)
        memcpy(d->data, f->ext, f->ext_len);
    d->data[f->ext_len] = '\n';
    d->data_len = f->ext_len + 1;
    f->ext = NULL;
    return 0;
}

static int dispatch(feed_t *f)
{
    sse_decoder_t *d = f->d;
    int rc = 0;
    if (d->has_data) {
        sse_event_t ev;
        ev.event = d->event_len ? d->event : "";
        ev.event_len = d->event_len;
        if (f->ext) {
            ev.data = f->ext;
            ev.data_len = f->ext_len;
        } else {
            /* has_data implies at least the '\n' of one data line is held. */
            ev.data = d->data;
            ev.data_len = d->data_len - 1;
        }
        ev.id = d->id_len ? d->id : "";
        ev.id_len = d->id_len;
        ev.retry_ms = d->retry_ms;
        rc = f->on_event ? f->on_event(&ev, f->arg) : 0;
    }
    /* Reset even when nothing fired: "event:" without data is forgotten. */
    f->ext = NULL;
    d->data_len = 0;
    d->event_len = 0;
    d->has_data = 0;
    d->retry_ms = -1;
    return rc ? SSE_STOPPED : SSE_OK;
}

/* "retry" takes effect only when the value is all ASCII digits; a value too
 * large for a long saturates rather than wrapping. */
static void field_retry(sse_decoder_t *d, const char *v, size_t n)
{
    long ms = 0;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
        int dig = v[i] - '0';
        ms = ms > (LONG_MAX - dig) / 10 ? LONG_MAX : ms * 10 + dig;
    }
    d->retry_ms = ms;
    d->reconnect_ms = ms;
}

static int field_data(feed_t *f, const char *v, size_t n, int in_place)
{
    sse_decoder_t *d = f->d;
    if (in_place && !d->has_data) {
        f->ext = v;
        f->ext_len = n;
        d->has_data = 1;
        return 0;
    }
    if (spill(f) < 0 || buf_reserve(&d->data, &d->data_cap, d->data_len + n + 1) < 0)
        return -1;
    if (n)
        memcpy(d->data + d->data_len, v, n);
    d->data_len += n;
    d->data[d->data_len++] = '\n';
    d->has_data = 1;
    return 0;
}

/* One complete line without its terminator. in_place: the line lies in the
 * caller's slice (and outlives this call until sse_feed returns). */
static int process_line(feed_t *f, const char *line, size_t len, int in_place)
{
    sse_decoder_t *d = f->d;
    if (len == 0)
        return dispatch(f);
    if (line[0] == ':') {
        const char *t = line + 1;
        size_t tn = len - 1;
        if (tn && *t == ' ') {
            t++;
            tn--;
        }
        if (f->on_comment && f->on_comment(t, tn, f->arg))
            return SSE_STOPPED;
        return SSE_OK;
    }
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    size_t vn = colon ? len - name_len - 1 : 0;
    if (vn && *v == ' ') {
        v++;
        vn--;
    }
    /* Names are case-sensitive; anything else is ignored. */
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        if (field_data(f, v, vn, in_place) < 0)
            return fail(d, SSE_NOMEM);
    } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        if (buf_set(&d->event, &d->event_len, &d->event_cap, v, vn) < 0)
            return fail(d, SSE_NOMEM);
    } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
        if (!memchr(v, '\0', vn) && buf_set(&d->id, &d->id_len, &d->id_cap, v, vn) < 0)
            return fail(d, SSE_NOMEM);
    } else if (name_len == 5 && memcmp(line, "retry", 5) == 0) {
        field_retry(d, v, vn);
    }
    return SSE_OK;
}

/* Appends to the partial line; the caller has already checked the cap. */
static int line_append(sse_decoder_t *d, const char *s, size_t n)
{
    if (buf_reserve(&d->line, &d->line_cap, d->line_len + n) < 0)
        return -1;
    memcpy(d->line + d->line_len, s, n);
    d->line_len += n;
    return 0;
}

/* Strips one UTF-8 BOM at the very start of the stream, even when its three
 * bytes arrive in separate slices. Returns the first byte after it, or NULL
 * when the slice was all BOM prefix (those bytes are held in bom_partial). */
static const char *skip_bom(feed_t *f, const char *p, const char *end, int *rc)
{
    static const unsigned char bom[3] = { 0xEF, 0xBB, 0xBF };
    sse_decoder_t *d = f->d;
    *rc = SSE_OK;
    while (d->bom_partial < 3 && p < end && (unsigned char)*p == bom[d->bom_partial]) {
        p++;
        d->bom_partial++;
    }
    if (d->bom_partial < 3 && p == end)
        return NULL;
    d->bom_checked = 1;
    if (d->bom_partial < 3 && d->bom_partial > 0) {
        /* Not a BOM after all: the bytes held are the start of the first line. */
        size_t n = (size_t)d->bom_partial;
        if (over_cap(f, n))
            *rc = fail(d, SSE_TOO_LARGE);
        else if (line_append(d, (const char *)bom, n) < 0)
            *rc = fail(d, SSE_NOMEM);
    }
    d->bom_partial = 0;
    return p;
}

/* Next '\n' or '\r' at or after p. *nl / *cr cache the last memchr result
 * (NULL = not searched yet, end = none left in the slice). */
static const char *next_eol(const char *p, const char *end, const char **nl, const char **cr)
{
    if (*nl != end && (!*nl || *nl < p)) {
        *nl = memchr(p, '\n', (size_t)(end - p));
        if (!*nl)
            *nl = end;
    }
    if (*cr != end && (!*cr || *cr < p)) {
        *cr = memchr(p, '\r', (size_t)(end - p));
        if (!*cr)
            *cr = end;
    }
    return *nl < *cr ? *nl : *cr;
}

int sse_feed(sse_decoder_t *d, const char *buf, size_t len,
             sse_event_fn on_event, sse_comment_fn on_comment, void *arg)
{
    feed_t f = { d, on_event, on_comment, arg, NULL, 0 };
    const char *p = buf, *end = buf + len;
    const char *nl = NULL, *cr = NULL;
    int rc = SSE_OK;

    if (d->error)
        return d->error;
    if (len == 0)
        return SSE_OK;
    if (!d->bom_checked) {
        p = skip_bom(&f, p, end, &rc);
        if (!p || rc != SSE_OK)
            return rc;
    }
    if (d->skip_lf && p < end) {
        /* The previous slice ended in CR; an LF now completes that CRLF. */
        if (*p == '\n')
            p++;
        d->skip_lf = 0;
    }

    while (p < end) {
        const char *eol = next_eol(p, end, &nl, &cr);
        if (eol == end)
            break;
        const char *line = p;
        size_t n = (size_t)(eol - p);
        /* Consume the terminator first, so a callback that stops us leaves
         * the decoder cleanly past this line. */
        p = eol + 1;
        if (*eol == '\r') {
            if (p < end) {
                if (*p == '\n')
                    p++;
            } else {
                d->skip_lf = 1;
            }
        }
        d->off = (size_t)(p - buf);
        if (d->line_len) {
            /* The line began in an earlier slice: complete it in the buffer. */
            if (over_cap(&f, d->line_len + n))
                return fail(d, SSE_TOO_LARGE);
            if (n && line_append(d, line, n) < 0)
                return fail(d, SSE_NOMEM);
            size_t ln = d->line_len;
            d->line_len = 0;   /* nothing writes the line buffer until the tail */
            rc = process_line(&f, d->line, ln, 0);
        } else {
            if (over_cap(&f, n))
                return fail(d, SSE_TOO_LARGE);
            rc = process_line(&f, line, n, 1);
        }
        if (rc != SSE_OK)
            break;
    }

    if (rc < 0)
        return rc;
    /* The slice is about to go away: nothing may keep pointing into it. */
    if (spill(&f) < 0)
        return fail(d, SSE_NOMEM);
    if (rc == SSE_STOPPED)
        return rc;
    if (p < end) {
        size_t n = (size_t)(end - p);
        if (over_cap(&f, d->line_len + n))
            return fail(d, SSE_TOO_LARGE);
        if (line_append(d, p, n) < 0)
            return fail(d, SSE_NOMEM);
    }
    return SSE_OK;
}

void sse_init(sse_decoder_t *d, size_t max_pending)
{
    memset(d, 0, sizeof *d);
    d->max_pending = max_pending ? max_pending : SIZE_MAX;
    d->retry_ms = -1;
    d->reconnect_ms = -1;
}

size_t sse_pending(const sse_decoder_t *d)
{
    size_t bom = d->bom_checked ? 0 : (size_t)d->bom_partial;
    return bom + d->line_len + d->data_len + d->event_len;
}

void sse_reset(sse_decoder_t *d)
{
    d->line_len = d->data_len = d->event_len = d->id_len = 0;
    d->retry_ms = -1;
    d->reconnect_ms = -1;
    d->bom_checked = d->bom_partial = 0;
    d->skip_lf = d->has_data = 0;
    d->error = 0;
}

void sse_free(sse_decoder_t *d)
{
    free(d->line);
    free(d->data);
    free(d->event);
    free(d->id);
    size_t cap = d->max_pending;
    sse_init(d, 0);
    d->max_pending = cap;
}
