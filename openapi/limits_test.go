package openapi_test

import (
	"encoding/json"
	"testing"

	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/openapi"
)

// TestLimitsMatchTheDocument: every maxLength the API document states is
// the limit the handlers enforce (models' constants), so the document
// cannot drift from the validation.
func TestLimitsMatchTheDocument(t *testing.T) {
	t.Parallel()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					MaxLength *int `json:"maxLength"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi.Document().Body, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[[2]string]int{
		{"RegisterRequest", "username"}:  models.MaxUsernameLen,
		{"RegisterRequest", "email"}:     models.MaxEmailLen,
		{"Todo", "title"}:                models.MaxTitleLen,
		{"TodoPatch", "title"}:           models.MaxTitleLen,
		{"Project", "name"}:              models.MaxProjectNameLen,
		{"ProjectPatch", "name"}:         models.MaxProjectNameLen,
		{"TenantPatch", "name"}:          models.MaxTenantNameLen,
		{"TenantPatch", "state_reason"}:  models.MaxStateReasonLen,
		{"TenantView", "state_reason"}:   models.MaxStateReasonLen,
		{"CopiedTenant", "state_reason"}: models.MaxStateReasonLen,
	}
	seen := 0
	for schema, s := range doc.Components.Schemas {
		for prop, p := range s.Properties {
			if p.MaxLength == nil {
				continue
			}
			seen++
			w, ok := want[[2]string{schema, prop}]
			if !ok {
				t.Errorf("%s.%s has maxLength %d, which no limit of models names", schema, prop, *p.MaxLength)
			} else if *p.MaxLength != w {
				t.Errorf("%s.%s has maxLength %d, the API enforces %d", schema, prop, *p.MaxLength, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("the document states %d maxLengths, want %d", seen, len(want))
	}
}
