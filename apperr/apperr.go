// Package apperr holds the application's one error type and the map from
// its codes to HTTP status codes.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes shared by every layer.
const (
	ECONFLICT        = "conflict"
	EINTERNAL        = "internal"
	EINVALID         = "invalid"
	ENOTFOUND        = "not_found"
	EUNAUTHORIZED    = "unauthorized"
	EFORBIDDEN       = "forbidden"
	EPAYMENTREQUIRED = "payment_required"
	ETOOLARGE        = "too_large"
	EUNSUPPORTED     = "unsupported_media_type"
	EUNAVAILABLE     = "unavailable"
	ETHROTTLED       = "throttled"
	EUNPROCESSABLE   = "unprocessable" // well-formed, but cannot be done (an idempotency key reused for another request)
)

// Error is the application error: a code, a message safe to show a client,
// optional per-field messages (rendered as DRF validation errors) and the
// underlying cause, which is never shown to clients.
type Error struct {
	Code    string
	Message string
	Fields  map[string][]string
	Err     error
}

// Error returns the message, followed by the cause when there is one.
func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	default:
		return e.Message
	}
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, apperr.NotFound) works on any not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Fields == nil && t.Err == nil && t.Code == e.Code
}

// Sentinels for errors.Is comparisons by code.
var (
	Conflict     = &Error{Code: ECONFLICT}
	Internal     = &Error{Code: EINTERNAL}
	Invalid      = &Error{Code: EINVALID}
	NotFound     = &Error{Code: ENOTFOUND}
	Unauthorized = &Error{Code: EUNAUTHORIZED}
	Forbidden    = &Error{Code: EFORBIDDEN}
	Unavailable  = &Error{Code: EUNAVAILABLE}
)

// Errors that several places answer in the same words, the wire format's
// (DRF's and simplejwt's). They are shared values: never change one.
var (
	ErrNoCredentials = Errorf(EUNAUTHORIZED, "Authentication credentials were not provided.")
	ErrAuthHeader    = Errorf(EUNAUTHORIZED, "Authorization header must contain two space-delimited values: Bearer <token>.")
	ErrUserNotFound  = Errorf(EUNAUTHORIZED, "User not found")
	ErrNoSuchTenant  = Errorf(ENOTFOUND, "No such tenant.")
)

// NoTenant is the ENOTFOUND error of an unknown schema name.
func NoTenant(schema string) *Error {
	return Errorf(ENOTFOUND, "No tenant with schema_name %q.", schema)
}

// TooLarge is the ETOOLARGE error of a request body over limit bytes.
func TooLarge(limit int64) *Error {
	return Errorf(ETOOLARGE, "Request body is larger than %d bytes.", limit)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message whose cause is err.
func Wrap(code string, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// FieldError returns an EINVALID error for one field.
func FieldError(field, message string) *Error {
	return &Error{Code: EINVALID, Message: field + ": " + message, Fields: map[string][]string{field: {message}}}
}

// Fields collects per-field validation messages; Err returns nil when none
// were added.
type Fields map[string][]string

// Add records a message for a field.
func (f Fields) Add(field, message string) { f[field] = append(f[field], message) }

// Merge adds the field messages of err, an EINVALID *Error; any other
// error is recorded under "non_field_errors".
func (f Fields) Merge(err error) {
	if err == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		for k, msgs := range e.Fields {
			f[k] = append(f[k], msgs...)
		}
		return
	}
	f.Add("non_field_errors", Message(err))
}

// Err returns an EINVALID *Error carrying the collected messages, or nil.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	msg := "invalid input"
	for k, v := range f {
		msg = k + ": " + v[0]
		break
	}
	return &Error{Code: EINVALID, Message: msg, Fields: f}
}

// Code returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Message returns the client-safe message of err: the *Error's message, or
// a generic one for internal errors.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL && e.Message != "" {
		return e.Message
	}
	return "An internal error occurred."
}

// HTTPStatus maps an error code to its HTTP status.
func HTTPStatus(code string) int {
	switch code {
	case ECONFLICT:
		return http.StatusConflict
	case EINVALID:
		return http.StatusBadRequest
	case ENOTFOUND:
		return http.StatusNotFound
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	case EPAYMENTREQUIRED:
		return http.StatusPaymentRequired
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case ETHROTTLED:
		return http.StatusTooManyRequests
	case EUNPROCESSABLE:
		return http.StatusUnprocessableEntity
	default:
		return http.StatusInternalServerError
	}
}
