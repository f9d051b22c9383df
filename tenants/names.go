package tenants

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"regexp"
	"strings"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/repository"
)

var schemaNameRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// reservedSchemaNames are names a tenant schema may never take: PostgreSQL's
// own schemas and its reserved key words, which would need quoting in every
// hand-written query an operator runs, and the words of the admin API's
// paths that stand where a schema name does (/admin/tenants/restore).
var reservedSchemaNames = map[string]bool{
	"public": true, "information_schema": true, "restore": true,
	"all": true, "analyse": true, "analyze": true, "and": true, "any": true, "array": true,
	"as": true, "asc": true, "asymmetric": true, "both": true, "case": true, "cast": true,
	"check": true, "collate": true, "column": true, "constraint": true, "create": true,
	"current_catalog": true, "current_date": true, "current_role": true, "current_time": true,
	"current_timestamp": true, "current_user": true, "default": true, "deferrable": true,
	"desc": true, "distinct": true, "do": true, "else": true, "end": true, "except": true,
	"false": true, "fetch": true, "for": true, "foreign": true, "from": true, "grant": true,
	"group": true, "having": true, "in": true, "initially": true, "intersect": true, "into": true,
	"lateral": true, "leading": true, "limit": true, "localtime": true, "localtimestamp": true,
	"not": true, "null": true, "offset": true, "on": true, "only": true, "or": true, "order": true,
	"placing": true, "primary": true, "references": true, "returning": true, "select": true,
	"session_user": true, "some": true, "symmetric": true, "table": true, "then": true, "to": true,
	"trailing": true, "true": true, "union": true, "unique": true, "user": true, "using": true,
	"variadic": true, "when": true, "where": true, "window": true, "with": true,
}

// ValidateSchemaName returns an EINVALID error (field schema_name) unless
// name matches ^[a-z_][a-z0-9_]{0,62}$ and is not reserved (pg_*, public,
// information_schema, SQL key words, restore).
func ValidateSchemaName(name string) error {
	switch {
	case name == "":
		return apperr.FieldError("schema_name", "This field may not be blank.")
	case !schemaNameRe.MatchString(name):
		return apperr.FieldError("schema_name", "Enter a valid schema name: 1 to 63 characters, lower-case letters, digits and underscores, not starting with a digit.")
	case strings.HasPrefix(name, "pg_") || reservedSchemaNames[name]:
		return apperr.FieldError("schema_name", "\""+name+"\" is a reserved name.")
	}
	return nil
}

// QuoteIdent quotes an identifier for SQL (repository.QuoteIdent). Names
// are validated before they get here; quoting is the second line of
// defence.
func QuoteIdent(name string) string { return repository.QuoteIdent(name) }

// RoleName returns the PostgreSQL role of a tenant schema in database
// dbName. Roles are cluster-wide while schemas are per database, so the name
// carries a digest of both: two databases on one cluster never share a role.
func RoleName(dbName, schema string) string {
	sum := sha256.Sum256([]byte(dbName + "\x00" + schema))
	prefix := schema
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	return prefix + "_t" + hex.EncodeToString(sum[:])[:12]
}

var hostLabelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NormalizeHost reduces a Host header or domain to its canonical form:
// lower case, without port, trailing dot or a leading "www.". It does not
// validate.
func NormalizeHost(host string) string {
	host = strings.TrimSpace(host)
	// Only a numeric (or empty) port is a port: "h.localhost:evil" or a URL stays
	// as it is and fails validation.
	if h, port, err := net.SplitHostPort(host); err == nil && (port == "" || isDigits(port)) {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return strings.TrimPrefix(host, "www.")
}

// NormalizeDomain returns the canonical form of a tenant domain (see
// NormalizeHost) or an EINVALID error (field domains) when it is not a
// valid host name.
func NormalizeDomain(domain string) (string, error) {
	d := NormalizeHost(domain)
	if d == "" || len(d) > 253 {
		return "", apperr.FieldError("domains", "Enter a valid domain name: \""+domain+"\".")
	}
	for _, label := range strings.Split(d, ".") {
		if !hostLabelRe.MatchString(label) {
			return "", apperr.FieldError("domains", "Enter a valid domain name: \""+domain+"\".")
		}
	}
	return d, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
