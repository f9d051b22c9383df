package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
)

// DRF's messages, which the seed's clients show to people.
const (
	msgRequired      = "This field is required."
	msgBlank         = "This field may not be blank."
	msgNull          = "This field may not be null."
	msgString        = "Not a valid string."
	msgBool          = "Must be a valid boolean."
	msgInt           = "A valid integer is required."
	msgDatetimeRange = "Datetime value out of range."
	msgDatetime      = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
	msgDate          = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
	msgEmail         = "Enter a valid email address."
	maxSafeInt64     = 1<<63 - 1
)

// readJSON reads the request body as one JSON object: 415 unless the
// content type is JSON, 413 past the body limit, 400 "JSON parse error -
// …" for malformed JSON, invalid UTF-8, duplicate keys or a non-object.
func readJSON(c *gin.Context) (*input, error) {
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, apperr.Errorf(apperr.EUNSUPPORTED, "Unsupported media type \"%s\" in request.", ct)
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, apperr.TooLarge(tooLarge.Limit)
		}
		return nil, apperr.Errorf(apperr.EINVALID, "Could not read the request body.")
	}
	if !utf8.Valid(body) {
		return nil, parseError("invalid UTF-8 in request body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, parseError("empty request body")
		}
		return nil, parseError(err.Error())
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, parseError("expected a JSON object")
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, parseError(err.Error())
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, parseError(err.Error())
		}
		if _, dup := raw[key]; dup {
			return nil, parseError(fmt.Sprintf("duplicate key %q", key))
		}
		raw[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, parseError(err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, parseError("extra data after the JSON object")
	}
	return &input{raw: raw, errs: apperr.Fields{}}, nil
}

func parseError(msg string) error {
	return apperr.Errorf(apperr.EINVALID, "JSON parse error - %s", msg)
}

// field holds the options of one field, named as DRF's serializer fields
// name them (required, allow_blank, allow_null, max_length, min_value,
// max_value). Each reader uses those that apply to its type.
type field struct {
	required   bool  // absent is an error (never in a PATCH)
	allowBlank bool  // String: "" (after trimming) is accepted
	allowNull  bool  // Int, PK, Time: null is accepted (and clears the value)
	maxLength  int   // String: at most this many characters; 0: no limit
	minValue   int64 // Int: the smallest value accepted
	maxValue   int64 // Int: the largest value accepted
}

// input reads typed fields out of a JSON object, collecting DRF-shaped
// errors per field. partial (PATCH) makes every field optional.
type input struct {
	raw     map[string]json.RawMessage
	errs    apperr.Fields
	partial bool
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// present returns the raw value when sent; records "required" when a
// required field is missing outside PATCH.
func (in *input) present(name string, f field) (json.RawMessage, bool) {
	v, ok := in.raw[name]
	if !ok {
		if f.required && !in.partial {
			in.errs.Add(name, msgRequired)
		}
		return nil, false
	}
	return v, true
}

// text reads a non-null JSON string field; typeMsg is the error for any
// other JSON type. ok is false when the field is absent or invalid.
func (in *input) text(name string, f field, typeMsg string) (s string, ok bool) {
	v, present := in.present(name, f)
	if !present {
		return "", false
	}
	if isNull(v) {
		in.errs.Add(name, msgNull)
		return "", false
	}
	if err := json.Unmarshal(v, &s); err != nil {
		in.errs.Add(name, typeMsg)
		return "", false
	}
	return s, true
}

// String reads a string field, trimmed of surrounding white space as
// DRF's CharField does; blank strings are refused unless f.allowBlank;
// f.maxLength counts characters. Nil when absent or invalid.
func (in *input) String(name string, f field) *string {
	s, ok := in.text(name, f, msgString)
	if !ok {
		return nil
	}
	// DRF's CharField trims surrounding white space before validating.
	s = strings.TrimSpace(s)
	if !f.allowBlank && s == "" {
		in.errs.Add(name, msgBlank)
		return nil
	}
	if f.maxLength > 0 && utf8.RuneCountInString(s) > f.maxLength {
		in.errs.Add(name, fmt.Sprintf("Ensure this field has no more than %d characters.", f.maxLength))
		return nil
	}
	if strings.ContainsRune(s, 0) {
		in.errs.Add(name, "Null characters are not allowed.")
		return nil
	}
	return &s
}

// Password reads a password field: a required string kept exactly as
// sent (like simplejwt's PasswordField, no trimming).
func (in *input) Password(name string) *string {
	v, ok := in.present(name, field{required: true})
	if !ok {
		return nil
	}
	var s string
	if isNull(v) || json.Unmarshal(v, &s) != nil {
		in.errs.Add(name, msgString)
		return nil
	}
	if s == "" {
		in.errs.Add(name, msgBlank)
		return nil
	}
	return &s
}

// Email reads a string field holding an e-mail address (at most
// models.MaxEmailLen characters).
func (in *input) Email(name string, f field) *string {
	s := in.String(name, field{required: f.required, maxLength: models.MaxEmailLen})
	if s == nil {
		return nil
	}
	addr, err := mail.ParseAddress(*s)
	if err != nil || addr.Address != *s || !strings.Contains((*s)[strings.LastIndexByte(*s, '@')+1:], ".") {
		in.errs.Add(name, msgEmail)
		return nil
	}
	return s
}

// Bool reads a boolean field; like DRF's BooleanField it accepts true and
// false, 1 and 0, and the strings "true"/"false", "yes"/"no", "on"/"off",
// "y"/"n", "t"/"f", "1"/"0" in any case.
func (in *input) Bool(name string, f field) *bool {
	v, ok := in.present(name, f)
	if !ok {
		return nil
	}
	if isNull(v) {
		in.errs.Add(name, msgNull)
		return nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err == nil {
		return &b
	}
	var s any
	_ = json.Unmarshal(v, &s)
	if str, isStr := s.(string); isStr {
		s = strings.ToLower(str)
	}
	switch s {
	case "true", "1", "yes", "y", "on", "t", float64(1):
		b = true
		return &b
	case "false", "0", "no", "n", "off", "f", float64(0):
		return &b
	}
	in.errs.Add(name, msgBool)
	return nil
}

// Int reads an integer field (JSON number or numeric string) between
// f.minValue and f.maxValue. f.allowNull lets null through: set reports
// whether the field was sent at all, so a null can clear a value.
func (in *input) Int(name string, f field) (val *int64, set bool) {
	v, ok := in.present(name, f)
	if !ok {
		return nil, false
	}
	if isNull(v) {
		if !f.allowNull {
			in.errs.Add(name, msgNull)
		}
		return nil, f.allowNull
	}
	n, ok := parseInt(v)
	if !ok {
		in.errs.Add(name, msgInt)
		return nil, false
	}
	if n < f.minValue {
		in.errs.Add(name, fmt.Sprintf("Ensure this value is greater than or equal to %d.", f.minValue))
		return nil, false
	}
	if n > f.maxValue {
		in.errs.Add(name, fmt.Sprintf("Ensure this value is less than or equal to %d.", f.maxValue))
		return nil, false
	}
	return &n, true
}

func parseInt(v json.RawMessage) (int64, bool) {
	var num json.Number
	if err := json.Unmarshal(v, &num); err != nil {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, false
		}
		num = json.Number(strings.TrimSpace(s))
	}
	n, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil {
		// DRF accepts 5.0 as 5.
		f, ferr := strconv.ParseFloat(num.String(), 64)
		if ferr != nil || f != float64(int64(f)) || f > maxSafeInt64 || f < -maxSafeInt64 {
			return 0, false
		}
		return int64(f), true
	}
	return n, true
}

// PK reads a primary-key reference: an integer id ≥ 1. Type errors use
// DRF's related-field messages.
func (in *input) PK(name string, f field) (val *int64, set bool) {
	v, ok := in.present(name, f)
	if !ok {
		return nil, false
	}
	if isNull(v) {
		if !f.allowNull {
			in.errs.Add(name, msgNull)
		}
		return nil, f.allowNull
	}
	n, ok := parseInt(v)
	if !ok || n < 1 {
		var x any
		_ = json.Unmarshal(v, &x)
		if _, isStr := x.(string); isStr && !ok {
			in.errs.Add(name, "Incorrect type. Expected pk value, received str.")
		} else if ok {
			in.errs.Add(name, fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", n))
		} else {
			in.errs.Add(name, fmt.Sprintf("Incorrect type. Expected pk value, received %s.", jsonTypeName(x)))
		}
		return nil, false
	}
	return &n, true
}

func jsonTypeName(x any) string {
	switch x.(type) {
	case bool:
		return "bool"
	case float64, json.Number:
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	default:
		return "str"
	}
}

// Time reads an RFC 3339 datetime (UTC, like DRF with USE_TZ);
// f.allowNull as in Int.
func (in *input) Time(name string, f field) (val *time.Time, set bool) {
	v, ok := in.present(name, f)
	if !ok {
		return nil, false
	}
	if isNull(v) {
		if !f.allowNull {
			in.errs.Add(name, msgNull)
		}
		return nil, f.allowNull
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		in.errs.Add(name, msgDatetime)
		return nil, false
	}
	t, err := parseDatetime(s)
	if errors.Is(err, errDatetimeRange) {
		in.errs.Add(name, msgDatetimeRange)
		return nil, false
	}
	if err != nil {
		in.errs.Add(name, msgDatetime)
		return nil, false
	}
	return &t, true
}

// errDatetimeRange is parseDatetime's error for a datetime that is well
// formed but falls outside years 1 to 9999 once converted to UTC.
var errDatetimeRange = errors.New("datetime out of range")

// parseDatetime parses s and converts it to UTC. The range is checked
// after the conversion: "0001-01-01T00:00:00+14:00" is in year 0 in UTC,
// and "9999-12-31T23:59:59-14:00" in year 10000.
func parseDatetime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			if t.Year() < 1 || t.Year() > models.MaxYear {
				return time.Time{}, errDatetimeRange
			}
			return t, nil
		}
	}
	return time.Time{}, errors.New("bad datetime")
}

// Date reads a "YYYY-MM-DD" date.
func (in *input) Date(name string, f field) *models.Date {
	s, ok := in.text(name, f, msgDate)
	if !ok {
		return nil
	}
	d, err := models.ParseDate(s)
	if err != nil {
		in.errs.Add(name, msgDate)
		return nil
	}
	return &d
}

// Err returns the collected field errors, or nil.
func (in *input) Err() error { return in.errs.Err() }

// stringList reads a list of strings.
func (in *input) stringList(name string, f field) []string {
	v, ok := in.present(name, f)
	if !ok {
		return nil
	}
	if isNull(v) {
		in.errs.Add(name, msgNull)
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		var x any
		_ = json.Unmarshal(v, &x)
		in.errs.Add(name, "Expected a list of items but got type \""+jsonTypeName(x)+"\".")
		return nil
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		var s string
		if err := json.Unmarshal(item, &s); err != nil {
			in.errs.Add(name, msgString)
			return nil
		}
		out = append(out, s)
	}
	return out
}

// nullableDate reads a "YYYY-MM-DD" date that may be null; set reports
// whether the field was sent, so a null can clear a value.
func (in *input) nullableDate(name string) (val *models.Date, set bool) {
	v, ok := in.present(name, field{})
	if !ok {
		return nil, false
	}
	if isNull(v) {
		return nil, true
	}
	d := in.Date(name, field{})
	return d, d != nil
}
