// Package httpapi serves channelstream's signed REST API: routing, the
// itsdangerous-compatible signature check, the IP allow-list, CORS, JSON
// decoding and validation, the one table that maps errors to HTTP
// statuses, and the admin pages: the sign-in form, the stateless signed
// session cookie (auth_tkt, HMAC-SHA256 under cookie_secret), the
// dashboard page and admin.json; and GET /metrics, the Prometheus text
// format for the addresses of allow_posting_from (no signature needed),
// whose collector reads the hub's counters and gauges at scrape time (the
// same counters admin.json reports).
//
// Concurrency: the building blocks here (Verifier, AllowList, ClientIP,
// CORS) are immutable once built and safe for concurrent use by any number
// of request goroutines.
package httpapi
