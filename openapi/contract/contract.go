// Package contract checks HTTP responses against the API's OpenAPI 3.1
// document (package openapi): that the path and method are documented,
// that the status is one the operation lists, and that the content type,
// the documented headers and the body match. Tests run every response of
// the real server through it, so the document and the server cannot
// drift apart unnoticed.
//
// kin-openapi loads and validates the document and checks response
// headers; bodies are checked with the JSON Schema 2020-12 validator that
// kin-openapi itself uses for OpenAPI 3.1, but with each schema compiled
// once at Load instead of once per response.
package contract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/strictmt/strictmt/openapi"
)

// documentURL names the document for the schema compiler; every schema is
// compiled from a JSON pointer into it, so references between schemas
// resolve as they do in the document.
const documentURL = "mem:///openapi.json"

// Spec is a loaded, validated OpenAPI document with its paths prepared for
// matching and its response schemas compiled. It is safe for concurrent
// use.
type Spec struct {
	doc    *openapi3.T
	routes []route
	// bodies holds the compiled schema of every documented response
	// media type.
	bodies map[*openapi3.MediaType]*jsonschema.Schema
	// notAllowed is the documented 405 response, which any path gives for
	// a method it does not have.
	notAllowed *openapi3.ResponseRef
	// detail is a documented response with a Detail body, for the answers
	// the server gives before routing (404 for a path it does not have,
	// 403 for a refused CORS preflight).
	detail *openapi3.ResponseRef
}

// route is one documented path, split into segments; "{name}" segments
// match any one segment.
type route struct {
	template string
	segments []string
	params   int
	item     *openapi3.PathItem
}

// Load parses and validates an OpenAPI 3.1 document and compiles its
// response schemas.
func Load(document []byte) (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(document)
	if err != nil {
		return nil, fmt.Errorf("contract: loading the document: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("contract: the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("contract: the document is invalid: %w", err)
	}
	s := &Spec{doc: doc, bodies: map[*openapi3.MediaType]*jsonschema.Schema{}}
	for name, dst := range map[string]**openapi3.ResponseRef{"MethodNotAllowed": &s.notAllowed, "NotFound": &s.detail} {
		ref := doc.Components.Responses[name]
		if ref == nil || ref.Value == nil {
			return nil, fmt.Errorf("contract: the document has no components.responses.%s", name)
		}
		*dst = &openapi3.ResponseRef{Ref: "#/components/responses/" + name, Value: ref.Value}
	}

	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(documentURL, raw); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	compile := func(at string, resp *openapi3.ResponseRef) error {
		if resp.Ref != "" {
			at = resp.Ref
		}
		for mt, media := range resp.Value.Content {
			if media.Schema == nil || s.bodies[media] != nil {
				continue
			}
			loc := at + "/content/" + escape(mt) + "/schema"
			sch, err := c.Compile(documentURL + loc)
			if err != nil {
				return fmt.Errorf("contract: compiling %s: %w", loc, err)
			}
			s.bodies[media] = sch
		}
		return nil
	}
	for _, ref := range []*openapi3.ResponseRef{s.notAllowed, s.detail} {
		if err := compile("", ref); err != nil {
			return nil, err
		}
	}
	for template, item := range doc.Paths.Map() {
		r := route{template: template, segments: splitPath(template), item: item}
		for _, seg := range r.segments {
			if isParam(seg) {
				r.params++
			}
		}
		s.routes = append(s.routes, r)
		for method, op := range item.Operations() {
			for status, resp := range op.Responses.Map() {
				at := "#/paths/" + escape(template) + "/" + strings.ToLower(method) + "/responses/" + status
				if err := compile(at, resp); err != nil {
					return nil, err
				}
			}
		}
	}
	// A literal segment wins over a parameter, as in the server's router.
	slices.SortFunc(s.routes, func(a, b route) int {
		if a.params != b.params {
			return a.params - b.params
		}
		return strings.Compare(a.template, b.template)
	})
	return s, nil
}

// Default returns the API's own document (openapi.Document), loaded once.
var Default = sync.OnceValues(func() (*Spec, error) { return Load(openapi.Document().Body) })

// Check reports how a response departs from the document; nil when it
// matches. req is the request that was sent (only its method, URL and
// headers are used, so its body may have been consumed).
//
// The document covers the tenant API (every path under /api/) and the
// documented probes; other paths, such as the operators' admin API, are
// outside it and pass unchecked. Within it, a path the document does not
// have fails, except for the server's 404 Detail, and a method a
// documented path does not have fails, except for its 405 Detail and for
// the answer to a CORS preflight (OPTIONS: 204 without a body, or 403
// Detail).
func (s *Spec) Check(req *http.Request, status int, header http.Header, body []byte) error {
	err := s.check(req, status, header, body)
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s answered %d, which the OpenAPI document does not allow: %w\nresponse Content-Type: %q\nresponse body: %s",
		req.Method, req.URL.RequestURI(), status, err, header.Get("Content-Type"), excerpt(body))
}

func (s *Spec) check(req *http.Request, status int, header http.Header, body []byte) error {
	r, params, ok := s.match(req.URL.Path)
	if !ok && !inScope(req.URL.Path) {
		return nil
	}
	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		return s.checkPreflight(status, header, body)
	}
	if !ok {
		if status == http.StatusNotFound {
			return s.checkResponse(s.detail, status, header, body)
		}
		return errors.New("the path is not in the document")
	}
	op := r.item.GetOperation(req.Method)
	if op == nil {
		if status == http.StatusMethodNotAllowed {
			return s.checkResponse(s.notAllowed, status, header, body)
		}
		if status == http.StatusNotFound && strings.HasPrefix(r.template, "/admin/") {
			// The admin API answers 404 to everything on a host that does
			// not serve it, so as not to tell its paths from missing ones.
			return s.checkResponse(s.detail, status, header, body)
		}
		return fmt.Errorf("path %s has no %s operation in the document", r.template, req.Method)
	}
	resp := op.Responses.Status(status)
	if resp == nil {
		return fmt.Errorf("operation %s (%s %s) does not list status %d (it lists %s)",
			op.OperationID, req.Method, r.template, status, strings.Join(statuses(op), ", "))
	}
	route := &routers.Route{Spec: s.doc, Path: r.template, PathItem: r.item, Method: req.Method, Operation: op}
	if err := s.checkHeaders(req, params, route, status, header); err != nil {
		return fmt.Errorf("operation %s: %w", op.OperationID, err)
	}
	if err := s.checkResponse(resp, status, header, body); err != nil {
		return fmt.Errorf("operation %s: %w", op.OperationID, err)
	}
	return nil
}

// checkHeaders checks the response headers the operation documents for
// the status (presence of the required ones, and their schemas).
func (s *Spec) checkHeaders(req *http.Request, params map[string]string, route *routers.Route, status int, header http.Header) error {
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(nil)),
		// The body is checked by checkResponse, with a schema compiled
		// once rather than on every call.
		Options: &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// checkResponse checks the content type and the body of a response
// against a documented response.
func (s *Spec) checkResponse(resp *openapi3.ResponseRef, status int, header http.Header, body []byte) error {
	content := resp.Value.Content
	if len(content) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("status %d is documented without a body, but there is one", status)
		}
		return nil
	}
	ct := header.Get("Content-Type")
	media, ok := lookupMedia(content, ct)
	if !ok {
		return fmt.Errorf("content type %q is not documented for status %d (documented: %s)", ct, status, strings.Join(slices.Sorted(maps.Keys(content)), ", "))
	}
	sch := s.bodies[media]
	if sch == nil {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("the body does not match %s: %w", schemaName(resp, media), err)
	}
	return nil
}

// lookupMedia finds the documented media type of a Content-Type: exact,
// then type/*, then */*.
func lookupMedia(content openapi3.Content, ct string) (*openapi3.MediaType, bool) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, false
	}
	main, _, _ := strings.Cut(mt, "/")
	for _, key := range []string{mt, main + "/*", "*/*"} {
		if m, ok := content[key]; ok {
			return m, true
		}
	}
	return nil, false
}

// schemaName names a response's schema for error messages.
func schemaName(resp *openapi3.ResponseRef, media *openapi3.MediaType) string {
	if media.Schema != nil && media.Schema.Ref != "" {
		return media.Schema.Ref
	}
	if resp.Ref != "" {
		return resp.Ref
	}
	return "the documented schema"
}

// checkPreflight checks the answer to a CORS preflight, which the server
// gives before routing: 204 without a body for an allowed origin, 403
// Detail otherwise.
func (s *Spec) checkPreflight(status int, header http.Header, body []byte) error {
	switch status {
	case http.StatusNoContent:
		if len(body) > 0 {
			return errors.New("a CORS preflight answer (204) has a body")
		}
		return nil
	case http.StatusForbidden:
		return s.checkResponse(s.detail, status, header, body)
	default:
		return fmt.Errorf("a CORS preflight is answered 204 or 403, not %d", status)
	}
}

// inScope reports whether the document covers a path it does not list:
// everything under /api/ does.
func inScope(p string) bool { return p == "/api" || strings.HasPrefix(p, "/api/") }

// match finds the documented path of a request path. Like the server, it
// ignores trailing slashes.
func (s *Spec) match(p string) (route, map[string]string, bool) {
	segs := splitPath(p)
next:
	for _, r := range s.routes {
		if len(r.segments) != len(segs) {
			continue
		}
		var params map[string]string
		for i, seg := range r.segments {
			switch {
			case isParam(seg):
				if params == nil {
					params = map[string]string{}
				}
				params[seg[1:len(seg)-1]] = segs[i]
			case seg != segs[i]:
				continue next
			}
		}
		return r, params, true
	}
	return route{}, nil, false
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isParam(seg string) bool {
	return len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}'
}

// escape makes s one JSON pointer token (RFC 6901).
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func statuses(op *openapi3.Operation) []string {
	out := make([]string, 0, op.Responses.Len())
	for code := range op.Responses.Map() {
		out = append(out, code)
	}
	slices.SortFunc(out, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return out
}

// excerpt returns the start of a body for an error message.
func excerpt(body []byte) string {
	const max = 2000
	if len(body) > max {
		return string(body[:max]) + fmt.Sprintf("… (%d bytes)", len(body))
	}
	if len(body) == 0 {
		return "(empty)"
	}
	return string(body)
}
