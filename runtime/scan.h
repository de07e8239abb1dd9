/* scan.h - reading what the gateway needs out of upstream JSON without
 * decoding it (the hot path never builds a JSON tree): token usage and an
 * error message. Pure functions over byte ranges; no allocation. */
#ifndef MOONGATE_SCAN_H
#define MOONGATE_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* Finds a usage object ("usage": OpenAI, Anthropic; "usageMetadata":
 * Gemini) in p[0..n) and its prompt/completion token counts (OpenAI's
 * prompt_tokens/completion_tokens, else input_tokens/output_tokens; Gemini's
 * promptTokenCount/candidatesTokenCount). Returns 1 when found with at least
 * one number; *pt / *ct are -1 when absent. */
int scan_usage(const char *p, size_t n, int64_t *pt, int64_t *ct);

/* Copies the first "message" string of the JSON in b[0..n) (OpenAI,
 * Anthropic and Gemini errors all use that name) into out (cap > 0, always
 * NUL-terminated, "" when there is none), unescaped just enough to quote it
 * and cut at cap - 1 bytes: escaped newlines and tabs become spaces, \u
 * escapes, control bytes and non-ASCII bytes become '?'. The result goes
 * into a JSON message and a log line, both escaped again by their writers. */
void scan_error_message(const char *b, size_t n, char *out, size_t cap);

#endif
