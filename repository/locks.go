package repository

// Advisory locks. The ids are the caller's; these statements only take
// and release them.

// AdvisoryLockSQL takes the session-level advisory lock $1, waiting in
// the server until it is free.
const AdvisoryLockSQL = "SELECT pg_advisory_lock($1)"

// AdvisoryUnlockSQL releases the session-level advisory lock $1 and reads
// whether the session held it.
const AdvisoryUnlockSQL = "SELECT pg_advisory_unlock($1)"

// AdvisoryXactLockSQL takes the advisory lock $1 until the transaction
// ends, waiting until it is free.
const AdvisoryXactLockSQL = "SELECT pg_advisory_xact_lock($1)"

// TryAdvisoryXactLockSQL takes the advisory lock ? until the transaction
// ends if it is free, and reads whether it did (GORM's placeholders).
const TryAdvisoryXactLockSQL = "SELECT pg_try_advisory_xact_lock(?)"

// TryAdvisoryXactLockNameSQL is TryAdvisoryXactLockSQL on the two-key
// lock (?, hashtext(?)): a class of locks and a name within it (GORM's
// placeholders).
const TryAdvisoryXactLockNameSQL = "SELECT pg_try_advisory_xact_lock(?, hashtext(?))"
