package models

// The limits of the tenant API's fields, one constant each, used by the
// handlers' validation, the service's rules, the importer's checks and
// (as maxLength) the OpenAPI document; the GORM tags (and the tenant
// migrations' varchar columns) have the same sizes. Tests hold the tags
// (models.TestLimitsMatchTheColumns) and the document
// (openapi.TestLimitsMatchTheDocument) to these constants.
const (
	// MaxUsernameLen is Django's User.username max_length.
	MaxUsernameLen = 150
	// MaxEmailLen is Django's EmailField max_length (RFC 5321's 254).
	MaxEmailLen = 254
	// MaxTitleLen bounds a todo's title.
	MaxTitleLen = 255
	// MaxProjectNameLen bounds a project's name.
	MaxProjectNameLen = 255
	// MaxTenantNameLen bounds a tenant's name (the admin API's).
	MaxTenantNameLen = 100
	// MaxStateReasonLen bounds the operators' reason of a tenant's state.
	MaxStateReasonLen = 500
	// MaxYear is the last year a time can be written in RFC 3339, whose
	// year has four digits.
	MaxYear = 9999
)
