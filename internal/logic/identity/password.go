package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/megaview/mgvcore/internal/errs"
)

// Hasher hashes and checks passwords and app secrets.
type Hasher interface {
	Hash(secret string) (string, error)
	// Matches reports whether secret is the one hash was made from. It
	// takes as long for a wrong secret as for a right one.
	Matches(hash, secret string) bool
}

// Bcrypt is the production Hasher.
type Bcrypt struct{ Cost int }

// NewBcrypt hashes at cost (bcrypt.DefaultCost when 0).
func NewBcrypt(cost int) Bcrypt {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	return Bcrypt{Cost: cost}
}

// Hash returns the bcrypt hash of secret.
func (b Bcrypt) Hash(secret string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(secret), b.Cost)
	if err != nil {
		return "", fmt.Errorf("hashing a secret: %w", err)
	}
	return string(h), nil
}

// Matches compares in bcrypt's time, whatever the outcome.
func (b Bcrypt) Matches(hash, secret string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) == nil
}

// Password length limits: bcrypt reads at most 72 bytes, and a longer
// password would silently share a hash with its prefix.
const (
	minPasswordChars = 8
	maxPasswordBytes = 72
)

// ValidatePassword checks a new password, named "password" in the error.
func ValidatePassword(pw string) error { return validatePassword("password", pw) }

func validatePassword(field, pw string) error {
	switch {
	case pw == "":
		return errs.InvalidArgument(field, "is required")
	case len([]rune(pw)) < minPasswordChars:
		return errs.InvalidArgument(field, "must be at least %d characters", minPasswordChars)
	case len(pw) > maxPasswordBytes:
		return errs.InvalidArgument(field, "must be at most %d bytes", maxPasswordBytes)
	case !utf8.ValidString(pw) || strings.ContainsFunc(pw, unicode.IsControl):
		// NUL bytes, newlines, escapes: nothing a person types at the
		// sign-in form, and a password of eight NULs passed every rule.
		return errs.InvalidArgument(field, "must be text without control characters")
	}
	return nil
}

// newAppSecret makes an app secret, shown once, and the hash kept of it.
func newAppSecret(h Hasher) (secret, hash string, err error) {
	secret = randomToken(32)
	hash, err = h.Hash(secret)
	return secret, hash, err
}

// randomToken is n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails (it panics if the system source does).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tokenHash is how a refresh token is stored: a leaked table does not give
// usable tokens, and a 256-bit random token needs no slow hash.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
