package auth

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/strictmt/strictmt/apperr"
)

func hashFast(t *testing.T, password string) string {
	t.Helper()
	h, err := HashPasswordCost(password, bcrypt.MinCost)
	if err != nil {
		t.Fatalf("HashPasswordCost: %v", err)
	}
	return h
}

func TestHashPasswordDefaultCost(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("cost = %d, %v; want %d", cost, err, bcrypt.DefaultCost)
	}
	if !CheckPassword(h, "correct horse battery staple") {
		t.Error("CheckPassword rejected the right password")
	}
	if NeedsRehash(h) {
		t.Error("NeedsRehash is true for a fresh hash")
	}
}

func TestHashPasswordSalted(t *testing.T) {
	t.Parallel()
	first, second := hashFast(t, "same password"), hashFast(t, "same password")
	if first == second {
		t.Error("two hashes of one password are equal")
	}
}

func TestHashPasswordRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		cost     int
		wantCode *apperr.Error
	}{
		{"ErrTooLong", strings.Repeat("a", MaxPasswordBytes+1), bcrypt.MinCost, apperr.Invalid},
		{"ErrTooLongMultibyte", strings.Repeat("é", MaxPasswordBytes/2+1), bcrypt.MinCost, apperr.Invalid},
		{"ErrCostTooLow", "password", bcrypt.MinCost - 1, apperr.Internal},
		{"ErrCostTooHigh", "password", bcrypt.MaxCost + 1, apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := HashPasswordCost(tt.password, tt.cost)
			if err == nil {
				t.Fatal("HashPasswordCost succeeded")
			}
			if apperr.Code(err) != tt.wantCode.Code {
				t.Errorf("code = %q, want %q (%v)", apperr.Code(err), tt.wantCode.Code, err)
			}
		})
	}
	t.Run("ErrTooLongViaHashPassword", func(t *testing.T) {
		t.Parallel()
		_, err := HashPassword(strings.Repeat("a", MaxPasswordBytes+1))
		if !errors.Is(err, apperr.Invalid) {
			t.Fatalf("error %v is not invalid", err)
		}
		if apperr.Message(err) != msgTooLong {
			t.Errorf("message = %q, want %q", apperr.Message(err), msgTooLong)
		}
	})
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	longest := strings.Repeat("p", MaxPasswordBytes)
	bcryptHash := hashFast(t, "s3cret-Passw0rd")
	maxHash := hashFast(t, longest)
	emptyHash := hashFast(t, "")
	// Made by Django's PBKDF2PasswordHasher (hashlib.pbkdf2_hmac, sha256,
	// 32-byte key, salt used as text).
	const django870k = "pbkdf2_sha256$870000$seasalt2024abcdefghijk$0SDtRKFWgHCuAyg5gDofhS9RcFasyqyJvMXX3KZvmUY="
	const django1k = "pbkdf2_sha256$1000$seasalt2024abcdefghijk$1P2+QoHuQbhJ3oernRrKlEFaVxM4Roepk9BcR6wf4vQ="

	tests := []struct {
		name     string
		hash     string
		password string
		want     bool
	}{
		{"OKBcrypt", bcryptHash, "s3cret-Passw0rd", true},
		{"WrongPassword", bcryptHash, "s3cret-passw0rd", false},
		{"WrongPasswordPrefix", bcryptHash, "s3cret-Passw0r", false},
		{"WrongPasswordEmpty", bcryptHash, "", false},
		{"OKEmptyPassword", emptyHash, "", true},
		{"OKMaxLength", maxHash, longest, true},
		// bcrypt only reads 72 bytes, so this would match without the cap.
		{"OverMaxLengthSamePrefix", maxHash, longest + "extra", false},
		{"EmptyHash", "", "s3cret-Passw0rd", false},
		{"GarbageHash", "not-a-hash", "s3cret-Passw0rd", false},
		{"DjangoUnusablePassword", "!Yx3kq9Lm2vB8nR4tZ7wP1cH6dJ5sF0gK", "", false},
		{"OKDjangoPBKDF2", django870k, "correct horse battery staple", true},
		{"OKDjangoPBKDF2FewIterations", django1k, "s3cret", true},
		{"DjangoPBKDF2WrongPassword", django1k, "S3cret", false},
		{"DjangoPBKDF2TamperedIterations", strings.Replace(django1k, "$1000$", "$1001$", 1), "s3cret", false},
		{"DjangoPBKDF2NonNumericIterations", "pbkdf2_sha256$many$salt$1P2+QoHuQbhJ3oernRrKlEFaVxM4Roepk9BcR6wf4vQ=", "s3cret", false},
		{"DjangoPBKDF2ZeroIterations", "pbkdf2_sha256$0$salt$1P2+QoHuQbhJ3oernRrKlEFaVxM4Roepk9BcR6wf4vQ=", "s3cret", false},
		{"DjangoPBKDF2HugeIterations", "pbkdf2_sha256$999999999999$salt$1P2+QoHuQbhJ3oernRrKlEFaVxM4Roepk9BcR6wf4vQ=", "s3cret", false},
		{"DjangoPBKDF2BadBase64", "pbkdf2_sha256$1000$seasalt2024abcdefghijk$***", "s3cret", false},
		{"DjangoPBKDF2ShortKey", "pbkdf2_sha256$1000$seasalt2024abcdefghijk$c2hvcnQ=", "s3cret", false},
		{"DjangoPBKDF2MissingParts", "pbkdf2_sha256$1000$seasalt2024abcdefghijk", "s3cret", false},
		{"DjangoPBKDF2EmptySalt", "pbkdf2_sha256$1000$$1P2+QoHuQbhJ3oernRrKlEFaVxM4Roepk9BcR6wf4vQ=", "s3cret", false},
		{"DjangoSHA1NotSupported", "sha1$salt$0123456789abcdef0123456789abcdef01234567", "s3cret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CheckPassword(tt.hash, tt.password); got != tt.want {
				t.Errorf("CheckPassword = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hash string
		want bool
	}{
		{"BcryptDefaultCost", "$2a$10$HNUtnACg.NLSwu1Pkte7kebNYRH7ESNjgAcOQhNBS94DyGpR/.Oye", false},
		{"BcryptLowCost", hashFast(t, "x"), true},
		{"DjangoPBKDF2", "pbkdf2_sha256$1000$seasalt2024abcdefghijk$1P2+QoHuQbhJ3oernRrKlEFaVxM4Roepk9BcR6wf4vQ=", true},
		{"Garbage", "nonsense", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRehash(tt.hash); got != tt.want {
				t.Errorf("NeedsRehash = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDummyCheck(t *testing.T) {
	t.Parallel()
	if cost, err := bcrypt.Cost([]byte(dummyHash)); err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("dummy hash cost = %d, %v; want bcrypt.DefaultCost so it costs what a real check does", cost, err)
	}
	for _, pw := range []string{"guess", strings.Repeat("x", 200)} {
		DummyCheck(pw) // must not panic on any length
	}
}
