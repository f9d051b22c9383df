// Package pgerr classifies PostgreSQL's errors. Every SQLSTATE strictmt
// reads is named here, and nowhere else: the repository translates them
// into application errors, the tenant data path recognises a deleted
// tenant or a stale prepared statement, provisioning a name in use.
package pgerr

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// The SQLSTATEs strictmt reads (PostgreSQL's errcodes.txt names).
const (
	UniqueViolation           = "23505"
	ForeignKeyViolation       = "23503"
	CheckViolation            = "23514"
	NotNullViolation          = "23502"
	StringDataRightTruncation = "22001"
	NumericValueOutOfRange    = "22003"
	InvalidParameterValue     = "22023" // set_config('role', …) of a role that does not exist
	QueryCanceled             = "57014"
	AdminShutdown             = "57P01"
	CrashShutdown             = "57P02"
	CannotConnectNow          = "57P03"
	DeadlockDetected          = "40P01"
	SerializationFailure      = "40001"
	UndefinedTable            = "42P01"
	InvalidSchemaName         = "3F000"
	UndefinedObject           = "42704"
	DuplicateSchema           = "42P06"
	DuplicateObject           = "42710"
	FeatureNotSupported       = "0A000" // also: cached plan must not change result type
	InvalidSQLStatementName   = "26000" // prepared statement does not exist
	ReadOnlySQLTransaction    = "25006" // a write in a READ ONLY transaction
)

// Code returns the SQLSTATE of the PostgreSQL error in err's chain, or "".
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Is reports whether err carries one of codes.
func Is(err error, codes ...string) bool {
	c := Code(err)
	if c == "" {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// Constraint returns the constraint named by the PostgreSQL error in
// err's chain, or "".
func Constraint(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}

// Retryable reports whether PostgreSQL aborted the transaction to let a
// conflicting one through (a deadlock's victim, a serialization failure):
// nothing of it remains, and it may be run again.
func Retryable(err error) bool { return Is(err, DeadlockDetected, SerializationFailure) }

// ServerShutdown reports whether the server ended the session (an
// administrator's pg_terminate_backend, a shutdown, a crash restart).
func ServerShutdown(err error) bool { return Is(err, AdminShutdown, CrashShutdown) }

// Unavailable reports whether the database refused or cancelled the work
// for reasons of its own state rather than the statement: a cancelled
// query (statement_timeout), a shutdown, a server not yet accepting
// connections.
func Unavailable(err error) bool { return Is(err, QueryCanceled, AdminShutdown, CannotConnectNow) }

// Unreachable reports whether err is a failed connect: the server could
// not be reached or refused the session.
func Unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr)
}

// ConnectionLost reports whether err says that an established connection
// broke: the server ended the session (ServerShutdown), the network or
// the socket failed, or the driver found the connection unusable. pgconn's
// SafeToRetry errors (nothing was sent) count too.
func ConnectionLost(err error) bool {
	if Code(err) != "" {
		return ServerShutdown(err)
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || pgconn.SafeToRetry(err)
}
