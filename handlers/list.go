package handlers

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/strictmt/strictmt/apperr"
)

// Page sizes of list endpoints (DRF LimitOffsetPagination).
const (
	defaultLimit = 50
	maxLimit     = 500
)

// page is a list request's window.
type page struct{ Limit, Offset int }

// readPage reads ?limit= (default 50; above 500 is cut to 500, as DRF
// does) and ?offset= (default 0). Values that are not whole numbers,
// negative, or a limit of 0 are refused with 400 naming the parameter.
func readPage(c *gin.Context) (page, error) {
	p := page{Limit: defaultLimit}
	fields := apperr.Fields{}
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		switch {
		case err != nil:
			fields.Add("limit", "A valid integer is required.")
		case n < 1:
			fields.Add("limit", "Ensure this value is greater than or equal to 1.")
		default:
			p.Limit = min(n, maxLimit)
		}
	}
	if s, ok := c.GetQuery("offset"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		switch {
		case err != nil:
			fields.Add("offset", "A valid integer is required.")
		case n < 0:
			fields.Add("offset", "Ensure this value is greater than or equal to 0.")
		default:
			p.Offset = n
		}
	}
	return p, fields.Err()
}

// listResponse is DRF's LimitOffsetPagination body.
type listResponse[T any] struct {
	Count    int64   `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// paginate builds the list body with absolute next/previous links that keep
// the request's other query parameters.
func paginate[T any](c *gin.Context, p page, total int64, results []T) listResponse[T] {
	if results == nil {
		results = []T{}
	}
	r := listResponse[T]{Count: total, Results: results}
	// offset < total-limit rather than offset+limit < total: the sum
	// overflows for an offset near the largest int.
	if int64(p.Offset) < total-int64(p.Limit) {
		s := pageURL(c, p.Limit, p.Offset+p.Limit)
		r.Next = &s
	}
	if p.Offset > 0 {
		prev := max(0, min(p.Offset-p.Limit, int(total)-p.Limit))
		s := pageURL(c, p.Limit, prev)
		r.Previous = &s
	}
	return r
}

func pageURL(c *gin.Context, limit, offset int) string {
	q := c.Request.URL.Query()
	q.Set("limit", strconv.Itoa(limit))
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	} else {
		q.Del("offset")
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: c.Request.Host, Path: c.Request.URL.Path + "/", RawQuery: q.Encode()}
	return u.String()
}

// readOrdering turns ?ordering=a,-b into an ORDER BY list over the
// whitelisted fields (API name → column); def applies when absent. The id
// is always the last key, so pages are stable. 400 on any other field.
func readOrdering(c *gin.Context, allowed map[string]string, def string) (string, error) {
	raw := c.Query("ordering")
	if strings.TrimSpace(raw) == "" {
		raw = def
	}
	var keys []string
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		dir := "ASC"
		if strings.HasPrefix(f, "-") {
			dir, f = "DESC", f[1:]
		}
		col, ok := allowed[f]
		if !ok {
			return "", apperr.FieldError("ordering", fmt.Sprintf("Invalid ordering field %q; use one of %s, with - for descending.", f, strings.Join(sortedKeys(allowed), ", ")))
		}
		keys = append(keys, col+" "+dir)
	}
	return strings.Join(keys, ", ") + ", id DESC", nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// queryBool reads a boolean filter (true/false, 1/0, as django-filter
// does). 400 naming the parameter otherwise.
func queryBool(c *gin.Context, name string) (*bool, error) {
	s, ok := c.GetQuery(name)
	if !ok || s == "" {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		b = true
	case "false", "0", "no":
	default:
		return nil, apperr.FieldError(name, "Select a valid choice. \""+s+"\" is not one of the available choices (true, false).")
	}
	return &b, nil
}

// queryID reads an id filter. 400 naming the parameter unless it is a
// positive whole number.
func queryID(c *gin.Context, name string) (*int64, error) {
	s, ok := c.GetQuery(name)
	if !ok || s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return nil, apperr.FieldError(name, "Enter a valid id: a positive whole number.")
	}
	return &n, nil
}

// pathID reads the {id} path parameter. A value that is not a positive
// whole number names no object: 404, like DRF's URL patterns.
func pathID(c *gin.Context) (int64, error) {
	n, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || n < 1 {
		return 0, apperr.Errorf(apperr.ENOTFOUND, "Not found.")
	}
	return n, nil
}

// timeLayout renders times as DRF does: RFC 3339 in UTC, microseconds
// when there are any.
const timeLayout = "2006-01-02T15:04:05.999999Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

// querySearch reads ?search=: text in UTF-8 without NUL characters, which
// PostgreSQL cannot compare. 400 naming the parameter otherwise.
func querySearch(c *gin.Context) (string, error) {
	s := c.Query("search")
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "", apperr.FieldError("search", "Enter text without null characters, in UTF-8.")
	}
	return s, nil
}
