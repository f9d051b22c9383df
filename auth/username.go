package auth

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MsgInvalidUsername is Django's UnicodeUsernameValidator message.
const MsgInvalidUsername = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."

// NormalizeUsername returns the NFKC form of username, as Django's
// AbstractBaseUser.normalize_username does before a user is saved or
// looked up: full-width "ａｌｉｃｅ" becomes "alice".
func NormalizeUsername(username string) string {
	return norm.NFKC.String(username)
}

// ValidUsername reports whether username, already normalised, matches
// Django's UnicodeUsernameValidator, ^[\w.@+-]+\Z: letters, numbers, "_"
// and the four characters ".@+-", and nothing else. Format characters such
// as zero-width spaces, joiners, soft hyphens, byte order marks and
// direction overrides are none of those, so they are refused.
func ValidUsername(username string) bool {
	if username == "" {
		return false
	}
	for _, r := range username {
		if !usernameRune(r) {
			return false
		}
	}
	return true
}

// usernameRune is Python's \w (str.isalnum() or "_": letters of categories
// L*, numbers of categories N*) plus ".@+-".
func usernameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune("_.@+-", r)
}

// UsernameKey returns the form under which two usernames are the same
// account for throttling: the NFKC form in lower case.
func UsernameKey(username string) string {
	return strings.ToLower(NormalizeUsername(username))
}
