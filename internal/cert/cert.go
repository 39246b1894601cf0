// Package cert makes the development certificate authority, the gRPC server
// certificate and a client certificate for mTLS tests, and loads them into a
// tls.Config. Generated material is for development and tests only.
package cert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/megaview/mgvcore/internal/fsmode"
)

// File names inside the ssl directory.
const (
	CACert     = "ca.crt"
	CAKey      = "ca.key"
	ServerCert = "server.crt"
	ServerKey  = "server.key"
	ClientCert = "client.crt"
	ClientKey  = "client.key"
)

const validity = 2 * 365 * 24 * time.Hour

// Missing lists the files the server needs that do not exist in dir.
func Missing(dir string) []string {
	var missing []string
	for _, name := range []string{CACert, ServerCert, ServerKey} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			missing = append(missing, filepath.Join(dir, name))
		}
	}
	return missing
}

// Generate writes a new CA, a server certificate valid for hosts (DNS names
// or IPs) and a client certificate into dir, replacing what is there.
func Generate(dir string, hosts []string) error {
	if err := fsmode.MkdirAll(dir); err != nil {
		return fmt.Errorf("ssl dir %s: %w", dir, err)
	}
	now := time.Now().Add(-time.Hour)
	caKey, err := newKey()
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "mgvcore development CA", Organization: []string{"Megaview"}},
		NotBefore:             now,
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writePair(dir, CACert, CAKey, caDER, caKey); err != nil {
		return err
	}

	server := leaf("mgvcore server", x509.ExtKeyUsageServerAuth, now)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else if h != "" {
			server.DNSNames = append(server.DNSNames, h)
		}
	}
	if err := sign(dir, ServerCert, ServerKey, server, ca, caKey); err != nil {
		return err
	}
	return sign(dir, ClientCert, ClientKey, leaf("mgvcore test client", x509.ExtKeyUsageClientAuth, now), ca, caKey)
}

func leaf(cn string, usage x509.ExtKeyUsage, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Megaview"}},
		NotBefore:    now,
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
}

func sign(dir, certName, keyName string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := newKey()
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create %s: %w", certName, err)
	}
	return writePair(dir, certName, keyName, der, key)
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return n
}

func writePair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, certName), "CERTIFICATE", der, fsmode.File); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, keyName), "EC PRIVATE KEY", keyDER, fsmode.File)
}

// writePEM writes through a temporary file so a concurrent reader never
// sees half a certificate.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	// After the rename there is no temporary file left: removing it then
	// fails, and only matters when an earlier step failed.
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Chmod(mode); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ClientAuth maps the config words none|request|require to TLS policy.
// "request" verifies a certificate when one is sent; "require" refuses
// clients without a CA-signed certificate.
func ClientAuth(mode string) (tls.ClientAuthType, error) {
	switch mode {
	case "", "none":
		return tls.NoClientCert, nil
	case "request":
		return tls.VerifyClientCertIfGiven, nil
	case "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("unknown client auth mode %q", mode)
}

// PrivateKeys takes group and other permissions off the private keys in
// dir (server, CA and client keys, where present) and returns each one it
// had to tighten with the mode it had. A key readable by others that
// cannot be tightened (owned by another user) is an error naming it.
func PrivateKeys(dir string) ([]string, error) {
	var tightened []string
	for _, name := range []string{ServerKey, CAKey, ClientKey} {
		path := filepath.Join(dir, name)
		old, changed, err := fsmode.Tighten(path)
		if err != nil {
			return tightened, fmt.Errorf("%s has mode %04o, so other users can read the private key, and it cannot be made 0600 (%w); chmod 600 it", path, old, err)
		}
		if changed {
			tightened = append(tightened, fmt.Sprintf("%s (was %04o)", path, old))
		}
	}
	return tightened, nil
}

// ServerTLS loads the server certificate and CA from dir into a TLS ≥ 1.2 config.
func ServerTLS(dir, clientAuth string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerCert), filepath.Join(dir, ServerKey))
	if err != nil {
		return nil, fmt.Errorf("server certificate in %s: %w", dir, err)
	}
	mode, err := ClientAuth(clientAuth)
	if err != nil {
		return nil, err
	}
	pool, err := LoadPool(filepath.Join(dir, CACert))
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   mode,
		ClientCAs:    pool,
		NextProtos:   []string{"h2"},
	}, nil
}

// ClientTLS builds a client config trusting the CA in dir, presenting the
// client certificate when withCert is set.
func ClientTLS(dir, serverName string, withCert bool) (*tls.Config, error) {
	pool, err := LoadPool(filepath.Join(dir, CACert))
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: serverName}
	if withCert {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, ClientCert), filepath.Join(dir, ClientKey))
		if err != nil {
			return nil, fmt.Errorf("client certificate in %s: %w", dir, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// LoadPool reads a PEM CA bundle.
func LoadPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("CA certificate " + path + ": no PEM certificate found")
	}
	return pool, nil
}

// ReadCertificate parses the first PEM certificate of the file at path.
func ReadCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New(path + ": no PEM certificate found")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}
