package main

import (
	"context"

	"github.com/rs/zerolog"
)

// run serves channelstream with cfg until ctx is cancelled, then drains
// and returns nil on a clean shutdown.
func run(ctx context.Context, cfg Config, log zerolog.Logger) error {
	g, err := newGateway(cfg, log)
	if err != nil {
		return err
	}
	ln, err := g.listen()
	if err != nil {
		return err
	}
	return g.serve(ctx, ln)
}
