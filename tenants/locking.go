package tenants

import "gorm.io/gorm/clause"

var lockForUpdate = clause.Locking{Strength: clause.LockingStrengthUpdate}
