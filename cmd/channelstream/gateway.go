package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/channelstream-go/channelstream-go/core"
	"github.com/channelstream-go/channelstream-go/core/redisbroker"
	"github.com/channelstream-go/channelstream-go/httpapi"
	"github.com/channelstream-go/channelstream-go/transports/longpoll"
	"github.com/channelstream-go/channelstream-go/transports/sse"
	"github.com/channelstream-go/channelstream-go/transports/websocket"
	"github.com/channelstream-go/channelstream-go/web"
)

// gateway is one channelstream node: the hub, the API and the transports
// behind one HTTP server.
type gateway struct {
	cfg      Config
	log      zerolog.Logger
	hub      *core.Hub
	handler  http.Handler
	ws       *websocket.Handler
	sse      *sse.Handler
	longpoll *longpoll.Handler
	// shared is the Redis log of a cluster node (nil on one node), and
	// dataPlane the data plane on the same client.
	shared    *redisbroker.Log
	dataPlane *redisbroker.DataPlane
	// sockets caps and counts the client sockets (max_client_sockets).
	sockets *sockets
	// demo is the demo chat with its own hub (nil unless demo is on).
	demo *demo
	// certs serves the TLS certificate (nil: plain HTTP).
	certs *certReloader
}

// newGateway wires the hub, the transports and the REST API from cfg.
func newGateway(cfg Config, log zerolog.Logger) (*gateway, error) {
	// GET /metrics serves a registry of this node's own (never Prometheus's
	// global one); the hub feeds the publish→write latency histogram.
	registry := prometheus.NewRegistry()
	latency := httpapi.NewWriteLatency()
	var shared *redisbroker.Log
	var dataPlane *redisbroker.DataPlane
	var sharedLog core.Log
	var sharedDP core.DataPlane
	var board core.StatsBoard // admin.json's cluster-wide message totals (data-plane mode)
	if cfg.RedisURL != "" {
		var err error
		shared, err = redisbroker.New(redisbroker.Config{
			URL:           cfg.RedisURL,
			Logger:        log.With().Str("component", "redis").Logger(),
			Partitions:    cfg.RedisPartitions,
			StreamMaxAge:  streamMaxAge(cfg),
			PublishLinger: cfg.RedisPublishLinger,
		})
		if err != nil {
			return nil, fmt.Errorf("redis_url: %w", err)
		}
		sharedLog, board = shared, shared.StatsBoard()
		if cfg.RedisDataPlane {
			dataPlane = shared.DataPlane()
			sharedDP = dataPlane
		}
	}
	hub := core.New(core.Config{
		Log:         sharedLog,
		DataPlane:   sharedDP,
		StatsBoard:  board,
		ConnTimeout: cfg.ConnTimeout,
		MaxHistory:  cfg.MaxHistory,
		QueueFrames: cfg.ConnQueueFrames,
		QueueBytes:  cfg.ConnQueueBytes,
		Logger:      log.With().Str("component", "hub").Logger(),

		MaxChannelsPerConn: cfg.MaxChannelsPerConn,
		MaxConnsPerUser:    cfg.MaxConnsPerUser,
		MaxConnections:     cfg.MaxConnections,
		MaxChannels:        cfg.MaxChannels,
		MaxMessageBytes:    cfg.MaxMessageBytes,
		MaxStateKeys:       cfg.MaxStateKeys,
		MaxStateValueBytes: cfg.MaxStateValueBytes,

		ObserveWrite: func(d time.Duration) { latency.Observe(d.Seconds()) },
	})
	gather := cfg.LongpollGather
	if gather == 0 {
		gather = longpoll.NoGather
	}
	var revocations core.Revocations // nil: httpapi's memory default (one node)
	if shared != nil {
		revocations = shared.Revocations() // sign-out on one node signs out on all
	}
	clockSkew := cfg.ClockSkew
	if clockSkew == 0 {
		clockSkew = -1 // clock_skew = 0: no allowance (httpapi's 0 is its default)
	}
	g := &gateway{cfg: cfg, log: log, hub: hub, shared: shared, dataPlane: dataPlane,
		sockets: newSockets(cfg.MaxClientSockets, log.With().Str("component", "http").Logger())}
	if err := g.sockets.register(registry); err != nil {
		return nil, fmt.Errorf("socket metrics: %w", err)
	}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if err := checkTLS(cfg); err != nil {
			return nil, err
		}
		var err error
		if g.certs, err = newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, log.With().Str("component", "tls").Logger()); err != nil {
			return nil, err
		}
	}
	g.ws = websocket.New(websocket.Config{
		Hub:               hub,
		HeartbeatInterval: cfg.HeartbeatInterval,
		ShutdownWindow:    cfg.ShutdownGrace,
		Logger:            log.With().Str("component", "websocket").Logger(),
	})
	g.sse = sse.New(sse.Config{
		Hub:               hub,
		HeartbeatInterval: cfg.HeartbeatInterval,
		Logger:            log.With().Str("component", "sse").Logger(),
	})
	g.longpoll = longpoll.New(longpoll.Config{
		Hub:     hub,
		Timeout: cfg.LongpollTimeout,
		Gather:  gather,
		Logger:  log.With().Str("component", "longpoll").Logger(),
	})
	adminFiles, err := fs.Sub(web.Static(), "admin")
	if err != nil {
		return nil, fmt.Errorf("admin page files: %w", err)
	}
	var mount map[string]http.Handler
	var mountAPI []byte
	if cfg.Demo {
		d, err := newGatewayDemo(cfg, log.With().Str("component", "demo").Logger())
		if err != nil {
			return nil, err
		}
		g.demo = d
		mount = map[string]http.Handler{"/demo": d}
		mountAPI = demoOpenAPI
	}
	api, err := httpapi.New(httpapi.Config{
		Hub:               hub,
		Secret:            cfg.Secret,
		NoSignatureMaxAge: !cfg.ValidateRequests,
		ClockSkew:         clockSkew,
		AllowPostingFrom:  cfg.AllowPostingFrom,
		TrustedProxies:    cfg.TrustedProxies,
		AllowCORS:         cfg.AllowCORS,
		EnforceHTTPS:      cfg.EnforceHTTPS,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		Build:             readBuild(),
		AdminUser:         cfg.AdminUser,
		AdminSecret:       cfg.AdminSecret,
		CookieSecret:      cfg.CookieSecret,
		SessionLifetime:   cfg.AdminSession,
		Revocations:       revocations,
		HTTPScheme:        cfg.HTTPScheme,
		AdminFiles:        adminFiles,
		TransportCounts:   g.transportCounts,
		Metrics:           registry,
		WriteLatency:      latency,
		Logger:            log.With().Str("component", "api").Logger(),
		WebSocket:         g.ws,
		SSE:               g.sse,
		LongPoll:          g.longpoll,
		Static:            staticHandler(),
		Mount:             mount,
		MountAPI:          mountAPI,
	})
	if err != nil {
		return nil, fmt.Errorf("build API: %w", err)
	}
	g.handler = api
	return g, nil
}

// transportCounts is the number of transports attached now, by kind.
func (g *gateway) transportCounts() map[string]int {
	return map[string]int{"websocket": g.ws.Open(), "sse": g.sse.Open(), "longpoll": g.longpoll.Open()}
}

// listen opens the configured address.
func (g *gateway) listen() (net.Listener, error) {
	addr := net.JoinHostPort(g.cfg.Host, strconv.Itoa(g.cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// reloadTLS loads the certificate files again (SIGHUP); without TLS it
// does nothing.
func (g *gateway) reloadTLS() error {
	if g.certs == nil {
		return nil
	}
	return g.certs.reload()
}

// serve runs the node on ln until ctx is done, then drains: /readyz turns
// 503, new attachments are refused, attached transports are told to
// reconnect (WebSocket close 1012), and the server waits up to
// shutdown_grace for requests to finish. With TLS every route is served
// over HTTP/2 and HTTP/1.1 (ALPN); WebSocket upgrades take HTTP/1.1
// connections (the HTTP/2 server does not offer RFC 8441).
func (g *gateway) serve(ctx context.Context, ln net.Listener) error {
	// The header and body deadlines, the idle timeout and the socket cap
	// bound what a slow or silent client holds; none of them applies to
	// a transport's socket once its handler has the request.
	srv := &http.Server{
		Handler:           g.sockets.serveHTTP(g.handler, g.cfg.BodyTimeout),
		ReadHeaderTimeout: g.cfg.HeaderTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnContext:       connContext,
		ConnState:         g.sockets.connState,
	}
	ln = g.sockets.listener(ln)
	if g.certs != nil {
		srv.TLSConfig = g.certs.tlsConfig()
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetHTTP2(true)
	}
	gcCtx, stopGC := context.WithCancel(context.Background())
	hubDone, demoDone := make(chan struct{}), make(chan struct{})
	defer func() {
		stopGC()
		<-hubDone
		<-demoDone
		if g.dataPlane != nil {
			_ = g.dataPlane.Close()
		}
		if g.shared != nil {
			_ = g.shared.Close()
		}
	}()
	go func() {
		defer close(hubDone)
		if err := g.hub.Run(gcCtx); err != nil {
			g.log.Error().Err(err).Msg("hub stopped")
		}
	}()
	go func() {
		defer close(demoDone)
		if g.demo != nil {
			_ = g.demo.Run(gcCtx)
		}
	}()

	errc := make(chan error, 1)
	go func() {
		if g.certs != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates from TLSConfig
			return
		}
		errc <- srv.Serve(ln)
	}()
	g.log.Info().Str("addr", ln.Addr().String()).Bool("tls", g.certs != nil).Int("max_client_sockets", g.sockets.Max()).Msg("listening")

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	g.drain()
	grace := g.cfg.ShutdownGrace
	sctx, cancel := context.WithTimeout(context.Background(), grace+time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	g.log.Info().Msg("stopped")
	return nil
}

// drain refuses new attachments, then closes the open transports with
// their reconnect hints: WebSocket sockets spread over shutdown_grace (close
// 1012), long-polls answer at once, SSE streams get a jittered retry:. It
// returns when all are gone or shutdown_grace has passed.
func (g *gateway) drain() {
	counts := g.transportCounts()
	g.log.Info().Int("websocket", counts["websocket"]).Int("sse", counts["sse"]).Int("longpoll", counts["longpoll"]).Msg("draining")
	g.hub.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownGrace)
	defer cancel()
	transports := map[string]interface{ Shutdown(context.Context) error }{"websocket": g.ws, "sse": g.sse, "longpoll": g.longpoll}
	if g.demo != nil {
		g.demo.hub.Drain()
		maps.Copy(transports, g.demo.transports())
	}
	errc := make(chan error, len(transports))
	for name, t := range transports {
		go func() {
			err := t.Shutdown(ctx)
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
			}
			errc <- err
		}()
	}
	for range transports {
		if err := <-errc; err != nil {
			g.log.Warn().Err(err).Msg("transports still open at the end of shutdown_grace")
		}
	}
}

// staticCSP is the Content-Security-Policy of every static file: an HTML
// page among them may load files of this origin only.
const staticCSP = "default-src 'self'; img-src 'self' data:; base-uri 'self'; form-action 'self'; " +
	"object-src 'none'; frame-ancestors 'none'"

// staticHandler serves the embedded web files under /static/, and the
// client library also at upstream's path /static/channelstream/channelstream.js.
// A directory is a 404 (no listing, no index page), and every answer
// carries staticCSP.
func staticHandler() http.Handler {
	static := web.Static()
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/static")
		if p == "/channelstream/channelstream.js" {
			p = "/channelstream.js"
		}
		w.Header().Set("Content-Security-Policy", staticCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		name := strings.Trim(path.Clean("/"+p), "/")
		if st, err := fs.Stat(static, name); err != nil || st.IsDir() || strings.HasSuffix(p, "/") {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		r2.URL.RawPath = ""
		files.ServeHTTP(w, r2)
	})
}
