package tenants

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/strictmt/strictmt/repository"
)

// Values of database.citus.
const (
	// CitusAuto follows the database: Citus mode when the citus extension
	// is installed in it.
	CitusAuto = "auto"
	// CitusOn forces Citus mode; the steps that need Citus's functions
	// (distributing a schema, placements, moves) still run only where the
	// extension is installed.
	CitusOn = "on"
	// CitusOff never uses Citus mode.
	CitusOff = "off"
)

// DefaultTenantGroup is the NOLOGIN role every tenant role is a member of,
// so that one pg_hba.conf line ("host all +strictmt_tenants 0.0.0.0/0
// reject") refuses a direct login as any tenant role.
const DefaultTenantGroup = "strictmt_tenants"

// Cluster is how tenants are provisioned and migrated in the database:
// on plain PostgreSQL, or on Citus with every tenant schema distributed
// (schema-based sharding), and the group role of the tenant roles.
//
// In Citus mode (docs/SCALE-OUT.md §3):
//   - new tenant schemas are created distributed
//     (citus.enable_schema_based_sharding, set for the creating
//     transaction only), and MigrateTenants distributes those that are
//     not (citus_schema_distribute);
//   - tenant roles can log in (no password): Citus opens its connections
//     to the workers as the current role, which in strict isolation is
//     the tenant's; the group role and pg_hba.conf keep anyone else from
//     logging in as one;
//   - triggers on tenant tables are created with
//     citus.enable_unsafe_triggers (Citus refuses them otherwise), and
//     nothing relies on what they do: they fire on the workers, so their
//     notifications never reach strictmt, which therefore checks the
//     token's user on every request (no remembered users) and reads each
//     schema's version table instead of the catalog's copy of it.
type Cluster struct {
	// Citus is Citus mode.
	Citus bool
	// Extension reports that the citus extension is installed, so that
	// its functions can be called.
	Extension bool
	// Nodes lists the active nodes (host:port, role), for the start-up
	// log; empty without the extension.
	Nodes []string
	// TenantGroup is the group role of the tenant roles; "" is
	// DefaultTenantGroup.
	TenantGroup string
}

// group returns the tenant roles' group role.
func (c Cluster) group() string {
	if c.TenantGroup == "" {
		return DefaultTenantGroup
	}
	return c.TenantGroup
}

// roles is how the cluster wants tenant roles: able to log in (no
// password) in Citus mode, NOLOGIN otherwise; members of the group role.
// Provisioning, spare claims, restored roles and migrations all make
// them so.
func (c Cluster) roles() repository.TenantRoles {
	return repository.TenantRoles{Group: c.group(), Login: c.Citus}
}

// String describes the cluster for the start-up log.
func (c Cluster) String() string {
	switch {
	case !c.Citus:
		return "PostgreSQL"
	case !c.Extension:
		return "Citus mode forced on (database.citus: on) without the citus extension"
	default:
		return "Citus (" + strconv.Itoa(len(c.Nodes)) + " nodes: " + strings.Join(c.Nodes, ", ") + ")"
	}
}

// ValidateGroupName checks a tenant group role name
// (tenancy.tenant_group): lower-case letters, digits and _, not starting
// with a digit or pg_.
func ValidateGroupName(name string) error {
	// The rule of schema names (schemaNameRe), but for the reserved words.
	if !schemaNameRe.MatchString(name) || strings.HasPrefix(name, "pg_") {
		return fmt.Errorf("%q is not a valid role name: 1-63 lower-case letters, digits and _, not starting with a digit or pg_", name)
	}
	return nil
}

// DetectCluster reads what db is: setting is database.citus (CitusAuto,
// CitusOn or CitusOff; "" is CitusAuto) and group the tenant group role
// ("" for DefaultTenantGroup).
func DetectCluster(ctx context.Context, db *sql.DB, setting, group string) (Cluster, error) {
	c := Cluster{TenantGroup: group}
	if group != "" {
		if err := ValidateGroupName(group); err != nil {
			return c, fmt.Errorf("tenancy.tenant_group: %w", err)
		}
	}
	if err := db.QueryRowContext(ctx, repository.CitusInstalledSQL).Scan(&c.Extension); err != nil {
		return c, fmt.Errorf("detecting Citus: %w", err)
	}
	switch setting {
	case CitusOn:
		c.Citus = true
	case CitusOff:
		c.Citus = false
	case CitusAuto, "":
		c.Citus = c.Extension
	default:
		return c, fmt.Errorf("database.citus must be auto, on or off, got %q", setting)
	}
	if c.Extension {
		rows, err := db.QueryContext(ctx, repository.ActiveNodesSQL)
		if err != nil {
			return c, fmt.Errorf("listing the Citus nodes: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var host, role string
			var port int
			var coordinator bool
			if err := rows.Scan(&host, &port, &role, &coordinator); err != nil {
				return c, err
			}
			kind := "worker"
			if coordinator {
				kind = "coordinator"
			}
			c.Nodes = append(c.Nodes, host+":"+strconv.Itoa(port)+" ("+kind+", "+role+")")
		}
		if err := rows.Err(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// EnsureTenantGroup creates the tenant roles' group role (NOLOGIN, no
// privileges) unless it exists. Concurrent callers may race; the loser's
// error is ignored when the role exists afterwards.
func EnsureTenantGroup(ctx context.Context, db *sql.DB, c Cluster) error {
	exists := func() (bool, error) {
		var ok bool
		err := db.QueryRowContext(ctx, repository.GroupRoleExistsSQL, c.group()).Scan(&ok)
		return ok, err
	}
	ok, err := exists()
	if err != nil || ok {
		return err
	}
	if _, err := db.ExecContext(ctx, repository.CreateGroupRoleStmt(c.group())); err != nil {
		if ok, err2 := exists(); err2 == nil && ok {
			return nil
		}
		return fmt.Errorf("creating the tenant group role %s: %w", c.group(), err)
	}
	return nil
}
