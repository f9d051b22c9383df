package models

import "time"

// The models below live in every tenant schema. They must not define
// TableName: their tables are named by the tenant handle's NamingStrategy,
// whose TablePrefix is the tenant schema ("tenant_a"."todos").

// User is an account of one tenant; the same username in two tenants
// names two unrelated people.
type User struct {
	ID           int64     `gorm:"primaryKey"`
	Username     string    `gorm:"size:150;not null"`
	Email        string    `gorm:"size:254;not null"`
	PasswordHash string    `gorm:"not null"`
	IsActive     bool      `gorm:"not null;default:true"`
	DateJoined   time.Time `gorm:"not null"`
}

// Todo is a to-do item, owned by a user or, when imported from the Django
// application (whose todos had no owner), by nobody: OwnerID is nil.
type Todo struct {
	ID                 int64      `gorm:"primaryKey"`
	Title              string     `gorm:"size:255;not null"`
	Description        string     `gorm:"not null"`
	Completed          bool       `gorm:"not null"`
	RecurrenceInterval *int       `gorm:""`
	CreatedAt          time.Time  `gorm:"not null"`
	CompletionTime     *time.Time `gorm:""`
	DueAt              *time.Time `gorm:""`
	PreviousID         *int64     `gorm:"column:previous_id"`
	OwnerID            *int64     `gorm:""`
	Owner              *User      `gorm:"foreignKey:OwnerID"`
}

// Project groups tasks. It is owned by a user or, when its tenant was
// cloned without its users, by nobody: OwnerID is nil.
type Project struct {
	ID          int64     `gorm:"primaryKey"`
	Name        string    `gorm:"size:255;not null"`
	Description string    `gorm:"not null"`
	OwnerID     *int64    `gorm:""`
	CreatedAt   time.Time `gorm:"not null"`
	Owner       *User     `gorm:"foreignKey:OwnerID"`
}

// Task ties a todo to a project, optionally assigned to a user.
type Task struct {
	ID             int64     `gorm:"primaryKey"`
	ProjectID      int64     `gorm:"not null"`
	TodoID         int64     `gorm:"not null"`
	AssignedUserID *int64    `gorm:""`
	DueDate        Date      `gorm:"type:date;not null"`
	CreatedAt      time.Time `gorm:"not null"`
	Project        *Project  `gorm:"foreignKey:ProjectID"`
	Todo           *Todo     `gorm:"foreignKey:TodoID"`
	AssignedUser   *User     `gorm:"foreignKey:AssignedUserID"`
}

// OutstandingToken is a refresh token issued to a user (simplejwt's
// OutstandingToken), known by its id (JTI): the token itself is not kept.
// BlacklistedAt, when set, refuses the token from then on (what
// simplejwt keeps as a BlacklistedToken): a logout, or a rotation.
type OutstandingToken struct {
	ID            int64      `gorm:"primaryKey"`
	UserID        *int64     `gorm:""`
	JTI           string     `gorm:"column:jti;size:255;not null"`
	CreatedAt     time.Time  `gorm:"not null"`
	ExpiresAt     time.Time  `gorm:"not null"`
	BlacklistedAt *time.Time `gorm:""`
}

// IdempotencyKey is the stored response of a write sent with an
// Idempotency-Key header (middleware.Idempotency): replayed to a retry of
// the same request until ExpiresAt. UserID is the sender's, 0 for
// sign-up and login.
type IdempotencyKey struct {
	UserID      int64     `gorm:"primaryKey;autoIncrement:false"`
	Key         string    `gorm:"primaryKey;size:255"`
	Fingerprint []byte    `gorm:"not null"`
	Status      int16     `gorm:"not null"`
	ContentType string    `gorm:"size:255;not null"`
	Body        []byte    `gorm:"not null"`
	ExpiresAt   time.Time `gorm:"not null"`
}
