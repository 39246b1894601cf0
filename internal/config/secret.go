package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/megaview/mgvcore/global"
	"github.com/megaview/mgvcore/internal/fsmode"
)

// secretFileBytes is the random bytes of a created auth.jwt_secret_file.
const secretFileBytes = 48

// secretFromFile sets auth.jwt_secret from auth.jwt_secret_file when the
// secret itself is not set.
//
// Outside pro a missing file is created with a random secret (0600): a
// development instance, which listens on every interface, then signs its
// tokens with a secret of its own rather than one that anyone who read
// the repository knows and could sign an admin's token with. Pro never
// creates one, since every instance of a fleet must sign with the same
// secret; it reads a file that exists (a mounted secret) and refuses one
// that others may read.
func (c *Config) secretFromFile() error {
	path := c.Auth.JWTSecretFile
	if c.Auth.JWTSecret != "" || path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && c.App.Env != global.EnvPro {
		data, c.secretCreated, err = createSecretFile(path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("auth.jwt_secret_file: %s does not exist; pro creates no secret (every instance must sign with the same one)", path)
		}
		return fmt.Errorf("auth.jwt_secret_file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if c.App.Env == global.EnvPro {
			return fmt.Errorf("auth.jwt_secret_file: %s has mode %04o: others may read the secret (make it 0600 or 0400)", path, fi.Mode().Perm())
		}
		if _, _, err := fsmode.Tighten(path); err != nil {
			return fmt.Errorf("auth.jwt_secret_file: %s is readable by others and cannot be made 0600: %w", path, err)
		}
	}
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return fmt.Errorf("auth.jwt_secret_file: %s is empty", path)
	}
	c.Auth.JWTSecret = secret
	return nil
}

// createSecretFile writes a random secret to path, unless another process
// created it first, and returns the file's contents and whether this call
// created it. The secret is written to a file of its own and linked into
// place, so no one reads it half written.
func createSecretFile(path string) ([]byte, bool, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := fsmode.MkdirAll(dir); err != nil {
			return nil, false, err
		}
	}
	raw := make([]byte, secretFileBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, err
	}
	secret := []byte(base64.RawURLEncoding.EncodeToString(raw) + "\n")
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, secret, fsmode.File); err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp) //nolint:errcheck // the link, if made, keeps the file
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			data, err := os.ReadFile(path)
			return data, false, err
		}
		return nil, false, err
	}
	return secret, true, nil
}
