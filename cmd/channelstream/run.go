package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// run serves channelstream with cfg until ctx is cancelled, then drains
// and returns nil on a clean shutdown.
func run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	if cfg.RedisURL != "" {
		// go-redis logs through a process-wide logger of its own (stderr
		// by default); the binary is the one place that may set it.
		redis.SetLogger(redisLogger{log.With().Str("component", "go-redis").Logger()})
	}
	g, err := newGateway(cfg, log)
	if err != nil {
		return err
	}
	ln, err := g.listen()
	if err != nil {
		return err
	}
	if cfg.TLSCertFile != "" {
		stop := reloadOnSIGHUP(ctx, g, log)
		defer stop()
	}
	return g.serve(ctx, ln)
}

// redisLogger turns go-redis's log lines (reconnections, pool notes) into
// debug entries of the node's log.
type redisLogger struct{ log zerolog.Logger }

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug().Msg(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// reloadOnSIGHUP loads g's certificate files again at every SIGHUP until
// ctx ends or stop is called.
func reloadOnSIGHUP(ctx context.Context, g *gateway, log zerolog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
				if err := g.reloadTLS(); err != nil {
					log.Error().Err(err).Msg("SIGHUP: the certificate files do not load; serving the previous certificate")
				}
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}
