package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
)

// Django's AUTH_PASSWORD_VALIDATORS defaults and their English messages.
const (
	minPasswordLen = 8
	maxSimilarity  = 0.7

	msgTooShort = "This password is too short. It must contain at least 8 characters."

	msgTooCommon     = "This password is too common."
	msgNumeric       = "This password is entirely numeric."
	msgSimilarFormat = "The password is too similar to the %s."
)

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is parsed on first use; it is read-only afterwards.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 4096)
	for line := range strings.Lines(commonPasswordsText) {
		if strings.HasPrefix(line, "#!comment:") {
			continue
		}
		if p := strings.TrimSpace(line); p != "" {
			set[p] = struct{}{}
		}
	}
	return set
})

// ValidatePassword applies Django's four default password validators, in
// Django's order (user attribute similarity, minimum length 8, common
// password, entirely numeric), and returns their messages; it returns nil
// when the password passes them all. username and email may be empty. It
// also rejects passwords longer than MaxPasswordBytes, which HashPassword
// cannot hash. Lengths are counted in characters (code points), as Python
// does.
func ValidatePassword(password, username, email string) []string {
	return fullPolicy.Validate(password, username, email)
}

var fullPolicy = PasswordPolicy{similarity: true, minimumLength: true, common: true, numeric: true, minLength: minPasswordLen}

// similarTo is Django's UserAttributeSimilarityValidator over the username
// and email attributes (verbose names "username" and "email address"). Each
// value is compared whole and split on runs of non-word characters, so the
// email's local part and domain labels count too.
func similarTo(password, username, email string) (string, bool) {
	pw := []rune(strings.ToLower(password))
	attrs := []struct{ value, verboseName string }{
		{username, "username"},
		{email, "email address"},
	}
	for _, a := range attrs {
		if a.value == "" {
			continue
		}
		value := strings.ToLower(a.value)
		parts := append(splitNonWord(value), value)
		for _, part := range parts {
			p := []rune(part)
			if exceedsMaximumLengthRatio(len(pw), len(p)) {
				continue
			}
			if quickRatio(pw, p) >= maxSimilarity {
				return fmt.Sprintf(msgSimilarFormat, a.verboseName), true
			}
		}
	}
	return "", false
}

// exceedsMaximumLengthRatio is Django's shortcut: a value at most a tenth of
// the password's length cannot reach maxSimilarity, so it is skipped.
func exceedsMaximumLengthRatio(pwdLen, valueLen int) bool {
	lengthBoundSimilarity := maxSimilarity / 2 * float64(pwdLen)
	return pwdLen >= 10*valueLen && float64(valueLen) < lengthBoundSimilarity
}

// quickRatio is Python difflib's SequenceMatcher(a=a, b=b).quick_ratio(),
// which is what Django's validator calls: 2*M/T where M is the size of the
// multiset intersection of a and b and T is len(a)+len(b); 1 when both are
// empty.
func quickRatio(a, b []rune) float64 {
	total := len(a) + len(b)
	if total == 0 {
		return 1
	}
	avail := make(map[rune]int, len(b))
	for _, r := range b {
		avail[r]++
	}
	matches := 0
	for _, r := range a {
		if avail[r] > 0 {
			avail[r]--
			matches++
		}
	}
	return 2 * float64(matches) / float64(total)
}

// splitNonWord is Python's re.split(r"\W+", s) for str patterns: a word
// character is a letter, a number or "_", and leading or trailing separators
// yield empty strings.
func splitNonWord(s string) []string {
	var parts []string
	start, inSep := 0, false
	for i, r := range s {
		word := unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_'
		switch {
		case !word && !inSep:
			parts = append(parts, s[start:i])
			inSep = true
		case word && inSep:
			start = i
			inSep = false
		}
	}
	if inSep {
		return append(parts, "")
	}
	return append(parts, s[start:])
}

// isDigits is Python's str.isdigit for decimal digits: non-empty and every
// character a digit.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}
