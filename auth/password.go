package auth

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/strictmt/strictmt/apperr"
)

// MaxPasswordBytes is the longest password accepted, in bytes of UTF-8:
// bcrypt ignores everything past it, so longer passwords are rejected rather
// than silently truncated.
const MaxPasswordBytes = 72

// msgTooLong is returned by ValidatePassword and HashPassword for passwords
// over MaxPasswordBytes.
const msgTooLong = "This password is too long. It must be no longer than 72 bytes."

// dummyHash is a bcrypt hash, at bcrypt.DefaultCost, of a password no user
// has.
const dummyHash = "$2a$10$HNUtnACg.NLSwu1Pkte7kebNYRH7ESNjgAcOQhNBS94DyGpR/.Oye"

// Django's default hasher: "pbkdf2_sha256$<iterations>$<salt>$<base64 key>".
const (
	djangoPBKDF2Prefix = "pbkdf2_sha256$"
	// maxPBKDF2Iterations bounds the work a stored hash can ask for; Django
	// 5.2 uses 1,000,000.
	maxPBKDF2Iterations = 10_000_000
)

// HashPassword returns the bcrypt hash of password at bcrypt.DefaultCost.
// A password longer than MaxPasswordBytes is an EINVALID error.
func HashPassword(password string) (string, error) {
	return HashPasswordCost(password, bcrypt.DefaultCost)
}

// HashPasswordCost is HashPassword with an explicit bcrypt cost, between
// bcrypt.MinCost and bcrypt.MaxCost; tests use bcrypt.MinCost to stay fast.
func HashPasswordCost(password string, cost int) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", apperr.Wrap(apperr.EINVALID, bcrypt.ErrPasswordTooLong, msgTooLong)
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("auth: bcrypt cost %d out of range [%d, %d]", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hashing password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash. It understands the
// bcrypt hashes HashPassword makes and, for accounts carried over from the
// Django application, Django's default "pbkdf2_sha256$..." hashes (see
// NeedsRehash). Any other hash, including Django's unusable-password marker
// "!...", matches nothing.
func CheckPassword(hash, password string) bool {
	if strings.HasPrefix(hash, djangoPBKDF2Prefix) {
		return checkDjangoPBKDF2(hash, password)
	}
	if len(password) > MaxPasswordBytes {
		// bcrypt would compare only the first 72 bytes, so a longer
		// password could match a hash of its prefix. Spend the usual time
		// anyway so that length doesn't show.
		DummyCheck(password)
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// DummyCheck runs a comparison against a fixed hash so a login for an unknown
// username takes the same time as for a known one. It matches the cost of
// hashes made by HashPassword.
func DummyCheck(password string) {
	if len(password) > MaxPasswordBytes {
		password = password[:MaxPasswordBytes]
	}
	_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(password))
}

// NeedsRehash reports whether hash should be replaced by a fresh
// HashPassword after a successful CheckPassword: true for anything but a
// bcrypt hash of at least bcrypt.DefaultCost, such as a Django PBKDF2 hash.
func NeedsRehash(hash string) bool {
	cost, err := bcrypt.Cost([]byte(hash))
	return err != nil || cost < bcrypt.DefaultCost
}

// checkDjangoPBKDF2 verifies Django's PBKDF2PasswordHasher format, in which
// the salt is used as its UTF-8 text and the key is 32 bytes, base64-encoded
// with padding.
func checkDjangoPBKDF2(encoded, password string) bool {
	parts := strings.SplitN(encoded, "$", 4)
	if len(parts) != 4 || parts[2] == "" {
		return false
	}
	iterations, err := strconv.Atoi(parts[1])
	if err != nil || iterations <= 0 || iterations > maxPBKDF2Iterations {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, []byte(parts[2]), iterations, sha256.Size)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}
