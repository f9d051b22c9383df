package apperr_test

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/strictmt/strictmt/apperr"
)

func TestCodesAndStatuses(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   string
		status int
		msg    string
	}{
		{apperr.Errorf(apperr.ENOTFOUND, "Not found."), apperr.ENOTFOUND, http.StatusNotFound, "Not found."},
		{fmt.Errorf("wrapped: %w", apperr.Errorf(apperr.ECONFLICT, "taken")), apperr.ECONFLICT, http.StatusConflict, "taken"},
		{apperr.FieldError("title", "This field is required."), apperr.EINVALID, http.StatusBadRequest, "title: This field is required."},
		{apperr.Errorf(apperr.EUNAUTHORIZED, "no"), apperr.EUNAUTHORIZED, http.StatusUnauthorized, "no"},
		{apperr.Errorf(apperr.EPAYMENTREQUIRED, "pay"), apperr.EPAYMENTREQUIRED, http.StatusPaymentRequired, "pay"},
		{apperr.Errorf(apperr.ETOOLARGE, "big"), apperr.ETOOLARGE, http.StatusRequestEntityTooLarge, "big"},
		{apperr.Errorf(apperr.EUNSUPPORTED, "type"), apperr.EUNSUPPORTED, http.StatusUnsupportedMediaType, "type"},
		{apperr.Wrap(apperr.EUNAVAILABLE, sql.ErrConnDone, "down"), apperr.EUNAVAILABLE, http.StatusServiceUnavailable, "down"},
		// Anything else is internal, and its text never reaches a client.
		{errors.New("pq: secret table name"), apperr.EINTERNAL, http.StatusInternalServerError, "An internal error occurred."},
		{apperr.Wrap(apperr.EINTERNAL, errors.New("secret"), "also secret"), apperr.EINTERNAL, http.StatusInternalServerError, "An internal error occurred."},
	} {
		if got := apperr.Code(tc.err); got != tc.code {
			t.Errorf("%v: code %q, want %q", tc.err, got, tc.code)
		}
		if got := apperr.HTTPStatus(apperr.Code(tc.err)); got != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, got, tc.status)
		}
		if got := apperr.Message(tc.err); got != tc.msg {
			t.Errorf("%v: message %q, want %q", tc.err, got, tc.msg)
		}
	}
	if apperr.Code(nil) != "" {
		t.Error("nil has a code")
	}
}

func TestIsComparesCodes(t *testing.T) {
	err := fmt.Errorf("ctx: %w", apperr.Wrap(apperr.ENOTFOUND, sql.ErrNoRows, "gone"))
	if !errors.Is(err, apperr.NotFound) || errors.Is(err, apperr.Conflict) {
		t.Fatal("errors.Is must compare by code")
	}
	if !errors.Is(err, sql.ErrNoRows) {
		t.Fatal("the cause must stay reachable")
	}
}

func TestFields(t *testing.T) {
	f := apperr.Fields{}
	if f.Err() != nil {
		t.Fatal("no messages, no error")
	}
	f.Add("title", "a")
	f.Merge(apperr.FieldError("title", "b"))
	f.Merge(apperr.Errorf(apperr.ECONFLICT, "c"))
	f.Merge(nil)
	var e *apperr.Error
	if !errors.As(f.Err(), &e) || e.Code != apperr.EINVALID || len(e.Fields["title"]) != 2 || e.Fields["non_field_errors"][0] != "c" {
		t.Fatalf("%+v", e)
	}
}
