package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCert is a throwaway self-signed certificate for 127.0.0.1, ::1 and
// localhost, as PEM.
type testCert struct {
	certPEM, keyPEM []byte
	serial          int64
}

func newTestCert(t *testing.T, serial int64) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "channelstream test", Organization: []string{"channelstream-go tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		serial:  serial,
	}
}

// write puts the pair at certFile and keyFile, each through a rename so
// that a reader never sees half a file.
func (c testCert) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	for path, data := range map[string][]byte{certFile: c.certPEM, keyFile: c.keyPEM} {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
}

// tlsFiles writes c into a fresh directory and returns the paths.
func tlsFiles(t *testing.T, c testCert) (certFile, keyFile string) {
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c.write(t, certFile, keyFile)
	return certFile, keyFile
}

// pool trusts c.
func (c testCert) pool(t *testing.T) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(c.certPEM) {
		t.Fatal("the test certificate does not parse")
	}
	return p
}

// tlsClient is an HTTP client that trusts c and speaks HTTP/2 when the
// server offers it; it does not follow redirects.
func tlsClient(t *testing.T, c testCert) *http.Client {
	hc := trustingClient(t, "")
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = c.pool(t)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc
}

// trustingClient is an HTTP client that trusts the certificate in the PEM
// file certFile ("": none yet) and speaks HTTP/2 when the server offers it.
func trustingClient(t *testing.T, certFile string) *http.Client {
	pool := x509.NewCertPool()
	if certFile != "" {
		b, err := os.ReadFile(certFile)
		if err != nil || !pool.AppendCertsFromPEM(b) {
			t.Fatalf("trust %s: %v", certFile, err)
		}
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// servedSerial makes a fresh TLS handshake with addr and returns the
// serial number of the certificate it was shown.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// awaitSerial polls fresh handshakes until addr shows the certificate
// with serial want, for at most 10 s.
func awaitSerial(t *testing.T, addr string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := servedSerial(t, addr)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node still shows certificate %d after 10 s, want %d", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
