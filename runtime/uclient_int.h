/* uclient_int.h - what uclient.c (pool, connections, requests, API) and
 * uclient_parse.c (the response side: http_parser callbacks) share. Private
 * to the client: nothing outside runtime/uclient*.c includes it. */
#ifndef MOONGATE_UCLIENT_INT_H
#define MOONGATE_UCLIENT_INT_H

#include "uclient.h"

#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <http_parser.h>
#include <openssl/ssl.h>

#define UC_MAX_ADDRS 4     /* addresses kept per origin: a host's A + AAAA records, with room */
#define UC_DNS_TTL_S 60.0  /* evdns_getaddrinfo hides TTLs; 60 s is curl's default DNS cache age */
#define UC_IDLE_MAX_S 50.0 /* idle connections older than this are closed, not reused: common load
                            * balancers drop idle connections at 60 s, often without a FIN we see */
#define UC_HOST_MAX 255    /* longest DNS name */
#define UC_READ_MAX 16384  /* bytes asked of one read on a plain connection */
#define UC_HBUF_MIN 256    /* first size of a connection's header scratch; doubles as needed
                            * (http_parser caps a header block at 80 KiB) */

typedef struct uc_origin uc_origin_t;
typedef struct uc_conn uc_conn_t;

struct uc_pool {
    struct event_base *base;
    struct evdns_base *dns;
    int own_dns;
    int max_idle;
    int api_depth;              /* > 0 while inside uc_start: on_done must be deferred */
    int stale_retry;            /* retry once on a stale keep-alive connection (default on) */
    struct timeval idle_tv;     /* an idle pooled connection is closed after this */
    long active;                /* started, not yet freed requests */
    SSL_CTX *ssl_ctx;           /* created on the first https request */
    uc_origin_t *origins;
    uc_stats_t st;
};

struct uc_origin {
    uc_origin_t *next;
    int tls, verify, literal;   /* literal: host is an IP address (no DNS, no SNI) */
    unsigned port;
    struct sockaddr_storage addr[UC_MAX_ADDRS];
    socklen_t alen[UC_MAX_ADDRS];
    int n_addr;
    double addr_expiry;         /* monotonic seconds */
    uc_conn_t *idle;            /* most recently used first */
    int n_idle;
    char host[UC_HOST_MAX + 1];
};

struct uc_conn {
    uc_pool_t *pool;
    uc_origin_t *origin;
    struct bufferevent *bev;    /* connect, writes, TLS; reads too on TLS connections */
    struct event *rev;          /* plain TCP: our own read event (see conn_readable) */
    uc_req_t *req;              /* NULL while idle */
    uc_conn_t *next, *prev;     /* idle list */
    int is_idle, connected, in_parse;
    unsigned nreq;              /* requests sent on it so far */
    double idle_since;
    http_parser parser;         /* parser.data = this conn */
    char *hbuf;                 /* current header: name bytes then value bytes */
    size_t hcap, hname, hval;
    int hstate;                 /* 0 none, 1 in name, 2 in value */
};

enum { RS_RESOLVING = 1, RS_CONNECTING, RS_SENT, RS_DONE };

struct uc_req {
    uc_pool_t *pool;
    uc_origin_t *origin;
    uc_conn_t *conn;
    uc_callbacks_t cb;
    void *arg;
    struct evdns_getaddrinfo_request *dns;
    struct event *timer, *defer;        /* inside this allocation */
    const char *head, *body;
    size_t head_len, body_len;
    double deadline, t_connect;         /* monotonic seconds; deadline 0 = none */
    int connect_ms, state, addr_i;
    unsigned is_head : 1, reused : 1, retried : 1, got_bytes : 1, status_sent : 1,
             complete : 1, keep : 1, paused : 1, cancelled : 1, aborted : 1,
             dns_pending : 1, in_done : 1, hdrs_done : 1;
    const char *pend;                   /* body chunk refused with UC_PAUSE (in the input buffer) */
    size_t pend_len, pend_drain;        /* drain pend_drain input bytes once it is taken */
    int result;
    const char *detail;
    char dbuf[256];
};

/* uclient.c: ends r (result, detail) and pools or closes its connection
 * (keep); on_done runs at once or, inside a uc_* call, deferred. */
void ucx_req_finish(uc_req_t *r, int result, const char *detail, int keep);
/* uclient.c: frees r without on_done (cancelled), closing its connection. */
void ucx_req_destroy(uc_req_t *r);
/* uclient.c: stops reading c (a paused request). */
void ucx_conn_read_off(uc_conn_t *c);

/* uclient_parse.c: the response parser's callbacks. */
extern const http_parser_settings ucx_parser_settings;
/* uclient_parse.c: parses what c's input buffer holds. Returns 1 while the
 * request goes on on this connection, 0 when it ended, was cancelled or
 * retried (c may be gone), or is paused. */
int ucx_process_input(uc_conn_t *c);

#endif
