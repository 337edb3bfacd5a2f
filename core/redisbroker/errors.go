package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/channelstream-go/channelstream-go/core"
)

// unavailablePrefixes are Redis error replies that mean "not now" rather
// than "never", besides those go-redis has a test for: a script is stuck.
var unavailablePrefixes = []string{"BUSY "}

// wrap turns err from a Redis call made while doing what into the error the
// Log returns: it wraps core.ErrUnavailable when Redis could not be reached
// or could not serve the call for now (connection refused or reset, a
// timeout, an I/O error, LOADING and the like), and wraps err itself in all
// cases. A cancellation of the caller's ctx is returned without
// ErrUnavailable; a closed Log yields redis.ErrClosed.
func wrap(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if isUnavailable(ctx, err) {
		return fmt.Errorf("%s: %w: %w", what, core.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isUnavailable tells whether err means Redis cannot be reached or cannot
// serve for now.
func isUnavailable(ctx context.Context, err error) bool {
	if errors.Is(err, redis.ErrClosed) {
		return false
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return false // the caller gave up; Redis may be fine
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		// A reply from a reachable server. These mean the server is loading
		// its data, a failover is under way, it is full or out of memory:
		// it cannot serve now. Others (WRONGTYPE, ERR syntax, NOAUTH…) are
		// bugs or configuration errors, not outages.
		if redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsMasterDownError(err) ||
			redis.IsTryAgainError(err) || redis.IsClusterDownError(err) || redis.IsMaxClientsError(err) ||
			redis.IsOOMError(err) || redis.IsNoReplicasError(err) {
			return true
		}
		msg := reply.Error()
		for _, p := range unavailablePrefixes {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	// Dial errors, resets, EOF, i/o timeouts, pool timeouts, deadlines.
	return true
}

// wrapAppend is wrap for XADD: it also wraps core.ErrNotStored when err
// proves the entry was not stored (see notStored).
func wrapAppend(ctx context.Context, err error) error {
	if notStored(err) {
		err = fmt.Errorf("%w: %w", core.ErrNotStored, err)
	}
	return wrap(ctx, "append", err)
}

// notStored tells whether err proves that a command was not carried out:
// Redis answered it with an error reply, or it never left this process (no
// connection could be opened, or none taken from the pool). Any other
// failure (a reset, EOF or timeout after the command was written) leaves
// it open.
func notStored(err error) bool {
	var reply redis.Error
	if errors.As(err, &reply) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, redis.ErrPoolTimeout)
}

// isRedirect tells whether err is a MOVED or ASK reply: a master of a
// cluster that does not serve the key's slot.
func isRedirect(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	msg := reply.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}
