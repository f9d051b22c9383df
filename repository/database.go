package repository

// Statements on the database and the server as a whole.

// CurrentDatabaseSQL reads the name of the database the connection is in.
const CurrentDatabaseSQL = "SELECT current_database()"

// DatabaseExistsSQL reads whether the database named $1 exists.
const DatabaseExistsSQL = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)"

// CreateDatabaseStmt creates the database name.
func CreateDatabaseStmt(name string) string { return "CREATE DATABASE " + QuoteIdent(name) }

// BackendPIDSQL reads the process id of the server backend that runs the
// connection's statements.
const BackendPIDSQL = "SELECT pg_backend_pid()"
