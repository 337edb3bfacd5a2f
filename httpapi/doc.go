// Package httpapi serves channelstream's signed REST API: routing, the
// itsdangerous-compatible signature check, the IP allow-list, CORS, JSON
// decoding and validation, and the one table that maps errors to HTTP
// statuses.
//
// Concurrency: the building blocks here (Verifier, AllowList, ClientIP,
// CORS) are immutable once built and safe for concurrent use by any number
// of request goroutines.
package httpapi
