package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// PKI is a throw-away certificate authority and the certificates it has issued, as files in Dir
// and as PEM blocks for clients and kubeconfigs. Everything is valid for a week.
type PKI struct {
	Dir   string
	CAPEM []byte // the CA certificate

	ca      *x509.Certificate
	caKey   *ecdsa.PrivateKey
	serial  int64
	created time.Time
	certs   map[string][2][]byte // name -> certificate, key
}

// NewPKI makes dir if needed, a certificate authority called caName (files ca.crt, ca.key) and
// a key that signs ServiceAccount tokens (service-account.key).
func NewPKI(dir, caName string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, caKeyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir, caKey: caKey, serial: 2, created: time.Now(), certs: map[string][2][]byte{}}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: caName},
		NotBefore:             p.notBefore(),
		NotAfter:              p.notAfter(),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	if p.ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, err
	}
	p.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	_, saKeyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	if err := p.write(map[string][]byte{"ca.crt": p.CAPEM, "ca.key": caKeyPEM, "service-account.key": saKeyPEM}); err != nil {
		return nil, err
	}
	return p, nil
}

// Issue makes a key and a certificate for subject, for usage (server or client
// authentication), valid for the DNS names and IP addresses given, as files NAME.crt and
// NAME.key. Client and WriteKubeconfig find it by name.
func (p *PKI) Issue(name string, subject pkix.Name, usage x509.ExtKeyUsage, dns, ips []string) error {
	key, keyPEM, err := newKey()
	if err != nil {
		return err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      subject,
		NotBefore:    p.notBefore(),
		NotAfter:     p.notAfter(),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
	}
	p.serial++
	for _, ip := range ips {
		template.IPAddresses = append(template.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, template, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.certs[name] = [2][]byte{certPEM, keyPEM}
	return p.write(map[string][]byte{name + ".crt": certPEM, name + ".key": keyPEM})
}

// File is the path of one of the PKI's files, such as ca.crt or NAME.key.
func (p *PKI) File(name string) string { return filepath.Join(p.Dir, name) }

// Client is an HTTPS client that trusts the CA and presents the certificate issued as user.
func (p *PKI) Client(user string, timeout time.Duration) (*http.Client, error) {
	pair, err := tls.X509KeyPair(p.certs[user][0], p.certs[user][1])
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CAPEM)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{pair},
		}},
	}, nil
}

// WriteKubeconfig writes a kubeconfig at path (whose folder must exist) for server, with the
// certificate issued as user embedded and clusterName as the name of its cluster and context.
func (p *PKI) WriteKubeconfig(path, clusterName, server, user string) error {
	pair := p.certs[user]
	b64 := func(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
    client-certificate-data: %[5]s
    client-key-data: %[6]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[4]s
    namespace: default
current-context: %[1]s
`, clusterName, server, b64(p.CAPEM), user, b64(pair[0]), b64(pair[1]))
	// Written beside the target and renamed: a reader never sees half a file.
	temporary := path + ".tmp"
	if err := os.WriteFile(temporary, []byte(config), 0o600); err != nil {
		return err
	}
	return os.Rename(temporary, path)
}

// notBefore and notAfter bound every certificate: an hour of clock skew, a week of use.
func (p *PKI) notBefore() time.Time { return p.created.Add(-time.Hour) }
func (p *PKI) notAfter() time.Time  { return p.created.Add(7 * 24 * time.Hour) }

func (p *PKI) write(files map[string][]byte) error {
	for name, data := range files {
		if err := os.WriteFile(p.File(name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// newKey makes a P-256 key, and its PEM block.
func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}
