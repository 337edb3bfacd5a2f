package redisbroker_test

import (
	"strings"
	"testing"

	"github.com/channelstream-go/channelstream-go/core/redisbroker"
)

func TestNewRefusesBadURLsAndPrefixes(t *testing.T) {
	for _, c := range []struct{ url, prefix, want string }{
		{"redis+cluster://", "", "want redis+cluster://host:port"},
		{"redis+cluster://a:1,,b:2", "", "want redis+cluster://host:port"},
		{"redis+cluster://a:1,b:2/3", "", "only database 0"},
		{"redis+cluster://a:1,b:2?bogus=1", "", "unexpected option"},
		{"http://a:1", "", "invalid URL scheme"},
		{"redis://a:1/0", "cs{x}:", "hash tags"},
	} {
		_, err := redisbroker.New(redisbroker.Config{URL: c.url, KeyPrefix: c.prefix})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q, prefix %q) = %v, want an error saying %q", c.url, c.prefix, err, c.want)
		}
	}
	for _, url := range []string{
		"redis://127.0.0.1:1/0", "unix:///tmp/x.sock?db=2",
		"redis+cluster://127.0.0.1:1", "rediss+cluster://u:p@127.0.0.1:1,127.0.0.1:2/0?dial_timeout=1s",
	} {
		l, err := redisbroker.New(redisbroker.Config{URL: url})
		if err != nil {
			t.Errorf("New(%q): %v", url, err)
			continue
		}
		_ = l.Close()
	}
}
