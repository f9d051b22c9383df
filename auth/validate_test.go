package auth

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	const (
		similarUsername = "The password is too similar to the username."
		similarEmail    = "The password is too similar to the email address."
	)
	// Expected results were checked against Django's validators.
	tests := []struct {
		name     string
		password string
		username string
		email    string
		want     []string
	}{
		{"OK", "correct-Horse-battery-9", "alice", "alice@example.com", nil},
		{"OKNoUserAttributes", "Zx9!kq#Lm2$v", "", "", nil},
		{"OKMaxBytes", strings.Repeat("Zx9!kq#Lm2$v", 6), "", "", nil},
		{"OKSharesPartsWithEmail", "thatcher-margaret", "mt", "margaret.thatcher@example.com", nil},
		{"OKLongPasswordShortUsername", "a-very-long-passphrase-with-ab-inside", "ab", "", nil},
		{"OKNonASCII", "Ærøskøbing77", "ærø", "", nil},
		{"ErrTooShort", "aB3$xyz", "alice", "alice@example.com", []string{msgTooShort}},
		{"ErrTooShortEmpty", "", "alice", "", []string{msgTooShort}},
		{"ErrTooShortCountsCharactersNotBytes", "éèêëàâä", "", "", []string{msgTooShort}},
		{"ErrNumeric", "84736291502", "alice", "", []string{msgNumeric}},
		{"ErrNumericNonASCIIDigits", "٣٤٥٦٧٨٩٠١٢", "", "", []string{msgNumeric}},
		{"ErrCommon", "iloveyou", "", "", []string{msgTooCommon}},
		{"ErrCommonCaseAndSpace", "  Password1  ", "", "", []string{msgTooCommon}},
		{"ErrCommonAndNumeric", "12345678", "", "", []string{msgTooCommon, msgNumeric}},
		{"ErrShortCommonNumeric", "1234567", "", "", []string{msgTooShort, msgTooCommon, msgNumeric}},
		{"ErrSimilarToUsername", "JohnSmith1984!", "johnsmith1984", "js@example.com", []string{similarUsername}},
		{"ErrSimilarToUsernamePart", "tenant_admin_2024", "tenant_admin", "", []string{similarUsername}},
		{"ErrSimilarToEmail", "margaret.thatcher", "mt", "margaret.thatcher@example.com", []string{similarEmail}},
		{"ErrSimilarToEmailDomain", "example.comx", "bob", "bob@example.com", []string{similarEmail}},
		{"ErrSimilarToEmailLocalPart", "Wilhelmina77", "", "wilhelmina7@example.org", []string{similarEmail}},
		{"ErrSimilarReportsUsernameOnly", "alicealice", "alicealice", "alicealice@example.com", []string{similarUsername}},
		{"ErrTooLong", strings.Repeat("Zx9!kq#Lm2$v", 6) + "!", "", "", []string{msgTooLong}},
		{"ErrTooLongMultibyte", strings.Repeat("ž", 40), "", "", []string{msgTooLong}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ValidatePassword(tt.password, tt.username, tt.email); !slices.Equal(got, tt.want) {
				t.Errorf("ValidatePassword(%q, %q, %q) = %q, want %q", tt.password, tt.username, tt.email, got, tt.want)
			}
		})
	}
}

func TestValidatePasswordMessages(t *testing.T) {
	t.Parallel()
	// Django's English wording, spelled out so a change to a constant shows.
	want := map[string]string{
		msgTooShort:  "This password is too short. It must contain at least 8 characters.",
		msgTooCommon: "This password is too common.",
		msgNumeric:   "This password is entirely numeric.",
	}
	for got, w := range want {
		if got != w {
			t.Errorf("message %q, want %q", got, w)
		}
	}
}

func TestCommonPasswords(t *testing.T) {
	t.Parallel()
	set := commonPasswords()
	if len(set) < 3000 {
		t.Errorf("common password list has %d entries, want thousands", len(set))
	}
	for p := range set {
		if p != strings.ToLower(strings.TrimSpace(p)) || strings.HasPrefix(p, "#!comment:") {
			t.Errorf("entry %q is not a trimmed lower-case password", p)
		}
	}
	for _, p := range []string{"password", "123456", "qwerty", "letmein", "iloveyou", "admin", "welcome", "monkey", "dragon", "football"} {
		if _, ok := set[p]; !ok {
			t.Errorf("%q missing from the list", p)
		}
	}
}

func TestQuickRatio(t *testing.T) {
	t.Parallel()
	// Values from Python's difflib.SequenceMatcher(a=a, b=b).quick_ratio().
	tests := []struct {
		name string
		a, b string
		want float64
	}{
		{"Overlap", "abcd", "bcde", 0.75},
		{"BothEmpty", "", "", 1.0},
		{"OneEmpty", "a", "", 0.0},
		{"OrderIgnored", "password", "drowssap", 1.0},
		{"Multiset", "aaab", "ab", 0.6666666666666666},
		{"Runes", "héllo", "hello", 0.8},
		{"NearCopy", "johnsmith1984!", "johnsmith1984", 0.9629629629629629},
		{"Disjoint", "xyz", "abc", 0.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := quickRatio([]rune(tt.a), []rune(tt.b)); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("quickRatio(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestSplitNonWord(t *testing.T) {
	t.Parallel()
	// Values from Python's re.split(r"\W+", s).
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"Email", "john.doe@example.com", []string{"john", "doe", "example", "com"}},
		{"LeadingSeparator", "@john", []string{"", "john"}},
		{"TrailingSeparator", "john@", []string{"john", ""}},
		{"UnderscoreIsWord", "a__b--c", []string{"a__b", "c"}},
		{"OnlySeparators", "..", []string{"", ""}},
		{"Empty", "", []string{""}},
		{"NonASCIILetters", "é-ü", []string{"é", "ü"}},
		{"NumbersAreWord", "a1²b", []string{"a1²b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := splitNonWord(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("splitNonWord(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
