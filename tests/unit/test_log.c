/* test_log.c - log_json_escape: the run-copying escaper against a byte-by-byte
 * reference, for every byte value and at every buffer limit. */
#include "log.h"
#include "t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plain definition: one byte at a time while n + 7 < cap. */
static void reference(char *buf, size_t *len, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = *len;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { buf[n++] = '\\'; buf[n++] = (char)c; }
        else if (c == '\n') { buf[n++] = '\\'; buf[n++] = 'n'; }
        else if (c == '\t') { buf[n++] = '\\'; buf[n++] = 't'; }
        else if (c < 0x20 || c == 0x7f) {
            buf[n++] = '\\'; buf[n++] = 'u'; buf[n++] = '0'; buf[n++] = '0';
            buf[n++] = hex[c >> 4]; buf[n++] = hex[c & 15];
        } else buf[n++] = (char)c;
    }
    *len = n;
}

static void same(const char *s, size_t start, size_t cap)
{
    char a[512], b[512];
    memset(a, 'x', sizeof a);
    memset(b, 'x', sizeof b);
    size_t na = start, nb = start;
    log_json_escape(a, &na, cap, s);
    reference(b, &nb, cap, s);
    T_EQ_INT(na, nb);
    T_CHECK(memcmp(a, b, sizeof a) == 0);   /* nothing written past the end either */
}

int main(void)
{
    char s[300];
    for (int c = 1; c < 256; c++) {          /* every byte, alone and inside text */
        snprintf(s, sizeof s, "ab%ccd", c);
        same(s, 0, 64);
    }
    srand(7);
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(rand() % 200);
        for (size_t i = 0; i < len; i++) {
            int r = rand() % 10;
            s[i] = (char)(r < 6 ? 'a' + rand() % 26 : r == 6 ? '"' : r == 7 ? '\n' : r == 8 ? 1 + rand() % 31 : 0x7f);
        }
        s[len] = 0;
        same(s, (size_t)(rand() % 20), 8 + (size_t)(rand() % 400));   /* cut anywhere */
    }
    same("", 0, 8);
    same("abcdef", 3, 10);
    return T_SUMMARY();
}
