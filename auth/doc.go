// Package auth holds the service's credentials logic: signed access and
// refresh tokens (HS256 JWTs bound to a tenant's schema name and catalog
// id), password hashing, verification and validation with Django's rules,
// username normalisation, and the throttles of the account endpoints. It
// does no I/O.
package auth
