package apptest

import (
	"net/http"
	"testing"

	"github.com/strictmt/strictmt/openapi/contract"
)

// validateResponse fails the test (without stopping it) when a response
// of the app does not match the API's OpenAPI document: an undocumented
// path, method or status, another content type, a missing documented
// header, or a body that does not match the schema. Env.Do calls it for
// every response, so each end-to-end test also checks the contract.
func validateResponse(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	spec, err := contract.Default()
	if err != nil {
		t.Errorf("contract: %v", err)
		return
	}
	if err := spec.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("contract: %v", err)
	}
}
