// Package auth holds the service's credentials logic: signed access and
// refresh tokens (HS256 JWTs bound to a tenant) and password hashing,
// verification and validation with Django's default rules. It does no I/O.
package auth
