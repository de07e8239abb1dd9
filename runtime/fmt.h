/* fmt.h - the few number and string formats the per-request path needs,
 * without printf (whose parsing cost ~1.5% of gateway CPU per request in
 * the lane-1 profile). Callers size the destination. */
#ifndef MOONGATE_FMT_H
#define MOONGATE_FMT_H

#include <stddef.h>
#include <string.h>

/* Writes v in decimal at p, returns the end (no NUL). Up to 20 bytes. */
static inline char *fmt_udec(char *p, unsigned long long v)
{
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

/* Writes v as 8 lower-case hex digits at p, returns the end (no NUL). */
static inline char *fmt_hex32(char *p, unsigned v)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--) p[7 - i] = hx[(v >> (i * 4)) & 15];
    return p + 8;
}

/* Copies n bytes of s into dst of size cap (cap > 0), cut to cap - 1, NUL
 * terminated: snprintf(dst, cap, "%.*s", n, s) without the format. */
static inline void fmt_copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n > cap - 1) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

/* The first occurrence of nd (k bytes) in h (n bytes), or NULL: memmem for
 * the short JSON keys the relay looks for ("\"usage\"", "\"role\""...).
 * glibc's memmem prepares a shift table on every call (~500 instructions
 * for a 400-byte body); this runs memchr (vectorised) for the needle's
 * second byte (its first, '"', is everywhere in JSON) and compares there. */
static inline const char *fmt_find(const char *h, size_t n, const char *nd, size_t k)
{
    if (k == 0) return h;
    if (n < k) return NULL;
    size_t off = k > 1;
    const char *p = h + off, *last = h + (n - k) + off;   /* where nd[off] may sit */
    while (p <= last) {
        p = memchr(p, (unsigned char)nd[off], (size_t)(last - p) + 1);
        if (!p) return NULL;
        if (memcmp(p - off, nd, k) == 0) return p - off;
        p++;
    }
    return NULL;
}

#endif
