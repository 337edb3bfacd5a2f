package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// certCheckEvery is how often, at most, a TLS handshake looks whether the
// certificate or key file changed.
const certCheckEvery = time.Second

// checkTLS refuses tls_cert_file without tls_key_file (or the reverse) and
// a pair that does not load.
func checkTLS(cfg Config) error {
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return errors.New("tls_cert_file and tls_key_file go together: set both to serve HTTPS, or neither")
	}
	if cfg.TLSCertFile == "" {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
		return fmt.Errorf("tls_cert_file/tls_key_file: %w", err)
	}
	return nil
}

// certReloader serves the certificate of a cert and key file pair and
// loads them again on reload (SIGHUP) or, at a handshake at most every
// certCheckEvery, when either file's size or modification time changed.
// A pair that fails to load is logged and the previous certificate stays.
// It is safe for concurrent use.
type certReloader struct {
	certFile, keyFile string
	log               zerolog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp // of both files when cert was loaded
	checked time.Time
}

// fileStamp tells a changed file from an unchanged one.
type fileStamp struct {
	size  int64
	mtime int64 // Unix nanoseconds
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{size: -1}
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// newCertReloader loads the pair once; a pair that does not load is an
// error.
func newCertReloader(certFile, keyFile string, log zerolog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload loads the pair now; on failure the previous certificate stays.
func (c *certReloader) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.load()
}

func (c *certReloader) load() error {
	stamp := [2]fileStamp{stampOf(c.certFile), stampOf(c.keyFile)}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate: %w", err)
	}
	c.cert, c.stamp = &cert, stamp
	if cert.Leaf != nil {
		c.log.Info().Str("subject", cert.Leaf.Subject.String()).Time("not_after", cert.Leaf.NotAfter).Msg("TLS certificate loaded")
	}
	return nil
}

// getCertificate is tls.Config.GetCertificate.
func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= certCheckEvery {
		c.checked = now
		if [2]fileStamp{stampOf(c.certFile), stampOf(c.keyFile)} != c.stamp {
			if err := c.load(); err != nil {
				c.log.Error().Err(err).Msg("the certificate files changed but do not load; serving the previous certificate")
			}
		}
	}
	return c.cert, nil
}

// tlsConfig is the node's TLS configuration: certificates from c, TLS 1.2
// or later.
func (c *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.getCertificate, MinVersion: tls.VersionTLS12}
}
