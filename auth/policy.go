package auth

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The names of Django's four password validators, as auth.password_validators
// lists them.
const (
	ValidatorSimilarity    = "similarity"     // UserAttributeSimilarityValidator
	ValidatorMinimumLength = "minimum_length" // MinimumLengthValidator
	ValidatorCommon        = "common"         // CommonPasswordValidator
	ValidatorNumeric       = "numeric"        // NumericPasswordValidator
)

// AllValidators is Django's recommended set, in Django's order.
var AllValidators = []string{ValidatorSimilarity, ValidatorMinimumLength, ValidatorCommon, ValidatorNumeric}

// PasswordPolicy is a chosen subset of Django's password validators, with
// Django's messages. The zero value applies none of them but still refuses
// passwords HashPassword cannot hash (over MaxPasswordBytes).
type PasswordPolicy struct {
	similarity, minimumLength, common, numeric bool
	minLength                                  int
}

// NewPasswordPolicy returns the policy of the named validators (see
// AllValidators); minLength is MinimumLengthValidator's min_length and
// must be at least 1 when minimum_length is named. An unknown or repeated
// name is an error naming it.
func NewPasswordPolicy(validators []string, minLength int) (PasswordPolicy, error) {
	var p PasswordPolicy
	seen := map[string]bool{}
	for _, name := range validators {
		if seen[name] {
			return PasswordPolicy{}, fmt.Errorf("password validator %q named twice", name)
		}
		seen[name] = true
		switch name {
		case ValidatorSimilarity:
			p.similarity = true
		case ValidatorMinimumLength:
			p.minimumLength = true
		case ValidatorCommon:
			p.common = true
		case ValidatorNumeric:
			p.numeric = true
		default:
			return PasswordPolicy{}, fmt.Errorf("unknown password validator %q (want one of %s)", name, strings.Join(AllValidators, ", "))
		}
	}
	if p.minimumLength && minLength < 1 {
		return PasswordPolicy{}, fmt.Errorf("password minimum length must be at least 1, got %d", minLength)
	}
	p.minLength = minLength
	return p, nil
}

// Validate returns the messages of the policy's validators that password
// fails, in Django's order, or nil. username and email may be empty.
// Lengths are counted in characters (code points), as Python does.
func (p PasswordPolicy) Validate(password, username, email string) []string {
	var msgs []string
	if p.similarity {
		if m, ok := similarTo(password, username, email); ok {
			msgs = append(msgs, m)
		}
	}
	if p.minimumLength && utf8.RuneCountInString(password) < p.minLength {
		msgs = append(msgs, tooShort(p.minLength))
	}
	if p.common {
		if _, ok := commonPasswords()[strings.TrimSpace(strings.ToLower(password))]; ok {
			msgs = append(msgs, msgTooCommon)
		}
	}
	if p.numeric && isDigits(password) {
		msgs = append(msgs, msgNumeric)
	}
	if len(password) > MaxPasswordBytes {
		msgs = append(msgs, msgTooLong)
	}
	return msgs
}

// tooShort is MinimumLengthValidator's message, singular for 1 as Django's
// ngettext has it.
func tooShort(n int) string {
	if n == 1 {
		return "This password is too short. It must contain at least 1 character."
	}
	return fmt.Sprintf("This password is too short. It must contain at least %d characters.", n)
}
