package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// Sealer encrypts signing secrets at rest (AES-256-GCM). The secret has to
// be kept, not hashed, since every delivery is signed with it; a copy of
// the database alone does not reveal it.
type Sealer struct{ aead cipher.AEAD }

// sealedPrefix marks the format, so the key or the cipher can change later.
const sealedPrefix = "v1:"

// NewSealer derives the AES key from key (any length; SHA-256 of it).
func NewSealer(key string) (*Sealer, error) {
	if key == "" {
		return nil, errors.New("webhooks.secret_key is empty")
	}
	k := sha256.Sum256([]byte(key))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts secret, bound to the subscription's tenant and app (aad), so
// a sealed secret copied onto another row does not open.
func (s *Sealer) Seal(secret, aad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), []byte(aad))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal returned.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errors.New("sealed secret: unknown format")
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("sealed secret: malformed")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(aad))
	if err != nil {
		return "", errors.New("sealed secret: does not open with webhooks.secret_key")
	}
	return string(plain), nil
}

// newSecret is a fresh signing secret: 32 random bytes, prefixed so a
// leaked one is recognisable.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b), nil
}
