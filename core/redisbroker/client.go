package redisbroker

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// clusterSchemes map the schemes of a cluster URL to go-redis's.
var clusterSchemes = map[string]string{"redis+cluster": "redis", "rediss+cluster": "rediss"}

// clientConfig is what newClient needs besides the URL.
type clientConfig struct {
	poolSize    int
	readTimeout time.Duration
	onConnect   func(ctx context.Context, cn *redis.Conn) error
}

// newClient returns a client for c.URL: a redis.Client for one server
// (redis://, rediss://, unix://) or a redis.ClusterClient for
// redis+cluster://host:port,host:port,…[?options] (rediss+cluster:// for
// TLS; user and password as in redis://; the addresses are seeds, the
// client learns the others; no database number: a cluster has only 0).
//
// Retries are off: a retried XADD or publish script whose first try
// reached Redis would store an entry twice, and the callers retry by
// themselves. A ClusterClient still follows MOVED and ASK redirects
// (commands a master refused, so nothing was done) but, for commands
// wrapped by noRetry, not network errors and timeouts (go-redis retries
// those whatever MaxRetries says). One dial attempt per connection, so that
// a stopped Redis fails a call at once. Connections are checked before
// reuse by go-redis, so the first call after Redis restarts opens a new one.
func (c Config) newClient(cc clientConfig) (redis.UniversalClient, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	if scheme, ok := clusterSchemes[u.Scheme]; ok {
		opt, err := parseClusterURL(u, scheme)
		if err != nil {
			return nil, err
		}
		opt.PoolSize = cc.poolSize
		opt.PipelinePoolSize = -1
		opt.MaxRetries = -1
		opt.DialerRetries = 1
		opt.DialTimeout = c.DialTimeout
		opt.ReadTimeout = cc.readTimeout
		opt.WriteTimeout = c.CommandTimeout
		opt.ContextTimeoutEnabled = true
		opt.DisableIdentity = true
		opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		opt.OnConnect = cc.onConnect
		return redis.NewClusterClient(opt), nil
	}
	opt, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	opt.PoolSize = cc.poolSize
	opt.PipelinePoolSize = -1 // pipelines share the pool (Follow's one connection)
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DialTimeout = c.DialTimeout
	opt.ReadTimeout = cc.readTimeout
	opt.WriteTimeout = c.CommandTimeout
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true // CLIENT SETINFO is Redis 7.2+; skip its round trip
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opt.OnConnect = cc.onConnect
	return redis.NewClient(opt), nil
}

// parseClusterURL turns redis+cluster://[user:pass@]h1:p1,h2:p2[?q] into
// go-redis's cluster options (its ParseClusterURL takes the first address
// as the host and the others as addr= parameters).
func parseClusterURL(u *url.URL, scheme string) (*redis.ClusterOptions, error) {
	hosts := strings.Split(u.Host, ",")
	if u.Host == "" || slicesContainsEmpty(hosts) {
		return nil, fmt.Errorf("parse redis url %q: want %s://host:port,host:port,…", u.Redacted(), u.Scheme)
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("parse redis url %q: a cluster has only database 0", u.Redacted())
	}
	q := u.Query()
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	v := url.URL{Scheme: scheme, User: u.User, Host: hosts[0], RawQuery: q.Encode()}
	opt, err := redis.ParseClusterURL(v.String())
	if err != nil {
		return nil, fmt.Errorf("parse redis url %q: %w", u.Redacted(), err)
	}
	return opt, nil
}

func slicesContainsEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

// noRetryCmd is a command a ClusterClient must not send again after a
// network error or a timeout: it may have been carried out.
type noRetryCmd struct{ *redis.Cmd }

// NoRetry implements redis.Cmder.
func (noRetryCmd) NoRetry() bool { return true }

// noRetryStringCmd is noRetryCmd for commands that answer a string (XADD).
type noRetryStringCmd struct{ *redis.StringCmd }

// NoRetry implements redis.Cmder.
func (noRetryStringCmd) NoRetry() bool { return true }
