// Package tenants provisions and resolves tenants: schema names and
// domains, the catalog, each tenant's schema, tables and PostgreSQL role,
// migrations, and the cached host → tenant resolution.
package tenants

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3/database"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"gorm.io/gorm"
)

// CatalogChannel is the LISTEN/NOTIFY channel on which every catalog change
// is announced, so each strictmt process drops its cached resolutions.
const CatalogChannel = "strictmt_catalog"

// Service creates, changes and deletes tenants and their domains. The CLI
// and the admin API both go through it.
type Service struct {
	db          *gorm.DB
	dbName      string
	publicHosts map[string]bool
	migrations  []Migration
	schemaStmts []string // see buildSchemaStmts
	onChange    func()
	spares      *spareKeeper        // see KeepSpares
	provisioned func(time.Duration) // see SetProvisionObserver
	cluster     Cluster             // see SetCluster
	activity    *Activity           // see SetActivity

	groupMu    sync.Mutex
	groupReady bool // the cluster's tenant group role exists
}

// NewService returns a Service on the catalog handle db. publicHosts are
// the hosts that serve the admin API and can never be tenant domains;
// onChange, if not nil, runs after every committed catalog change.
func NewService(ctx context.Context, db *gorm.DB, publicHosts []string, onChange func()) (*Service, error) {
	var dbName string
	if err := db.WithContext(ctx).Raw(repository.CurrentDatabaseSQL).Scan(&dbName).Error; err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	migrations, err := TenantMigrations()
	if err != nil {
		return nil, err
	}
	schemaStmts, err := buildSchemaStmts(migrations)
	if err != nil {
		return nil, err
	}
	hosts := map[string]bool{}
	for _, h := range publicHosts {
		hosts[NormalizeHost(h)] = true
	}
	return &Service{db: db, dbName: dbName, publicHosts: hosts, migrations: migrations, schemaStmts: schemaStmts, onChange: onChange}, nil
}

// SetCluster sets how tenants are provisioned (see Cluster and
// DetectCluster; app.Open detects it once); call it before the service is
// used. Until then the service provisions for plain PostgreSQL.
func (s *Service) SetCluster(c Cluster) {
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	s.cluster = c
	s.groupReady = false
}

// ensureGroup creates the tenant roles' group role once, before the first
// provisioning that grants it (outside that transaction, so that two
// concurrent creations do not both try to create it in theirs).
func (s *Service) ensureGroup(ctx context.Context) error {
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	if s.groupReady {
		return nil
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	if err := EnsureTenantGroup(ctx, sqlDB, s.cluster); err != nil {
		return err
	}
	s.groupReady = true
	return nil
}

// CreateParams describes a new tenant.
type CreateParams struct {
	Name       string
	SchemaName string
	Domains    []string // the first is primary
	PaidUntil  *models.Date
	OnTrial    bool
}

func (s *Service) validateName(name string, fields apperr.Fields) {
	switch {
	case strings.TrimSpace(name) == "":
		fields.Add("name", "This field may not be blank.")
	case utf8.RuneCountInString(name) > models.MaxTenantNameLen:
		fields.Add("name", fmt.Sprintf("Ensure this field has no more than %d characters.", models.MaxTenantNameLen))
	}
}

func (s *Service) normalizeDomains(domains []string, fields apperr.Fields) []string {
	var out []string
	seen := map[string]bool{}
	for _, raw := range domains {
		d, err := NormalizeDomain(raw)
		if err != nil {
			fields.Merge(err)
			continue
		}
		if s.publicHosts[d] {
			fields.Add("domains", "\""+d+"\" is a public host and cannot belong to a tenant.")
			continue
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// CreateTenant creates a tenant in one transaction: its catalog rows, its
// schema with every migration applied, its version table, and its role
// with grants; the schema is a claimed spare when one is ready (see
// KeepSpares). Any failure leaves nothing behind, and a claimed spare
// stays a spare. EINVALID for bad input, ECONFLICT when the schema name, a
// domain, the schema or the role exists.
func (s *Service) CreateTenant(ctx context.Context, p CreateParams) (*models.Tenant, error) {
	return s.CreateTenantWith(ctx, p, CreateOptions{})
}

// CreateOptions extends CreateTenantWith beyond a plain creation.
type CreateOptions struct {
	// Replace first deletes the tenant that has the schema name, if any,
	// with its domains, schema, rows and role, in the same transaction: a
	// failure later leaves it as it was.
	Replace bool
	// AtVersion, when not 0, provisions the schema at that tenant
	// migration version (its migrations only, never a spare) for
	// Populate; the later migrations are applied after Populate, in the
	// same transaction, as a migrate would apply them. EINVALID when no
	// migration has that version.
	AtVersion int64
	// Populate, when not nil, runs in the transaction once the schema is
	// provisioned, before the change is announced, on the transaction's
	// own connection (to COPY rows into the new schema, say); an error
	// from it rolls the whole creation back.
	Populate func(ctx context.Context, conn *pgx.Conn, c *models.Tenant) error
}

// CreateTenantWith is CreateTenant with the options o: a tenant created
// (and, with o.Replace, the one it replaces deleted) together with
// whatever o.Populate writes, all in one transaction. Errors as
// CreateTenant, and those of o.Populate.
func (s *Service) CreateTenantWith(ctx context.Context, p CreateParams, o CreateOptions) (*models.Tenant, error) {
	fields := apperr.Fields{}
	s.validateName(p.Name, fields)
	fields.Merge(ValidateSchemaName(p.SchemaName))
	domains := s.normalizeDomains(p.Domains, fields)
	if len(p.Domains) == 0 {
		fields.Add("domains", "A tenant needs at least one domain.")
	}
	if err := fields.Err(); err != nil {
		return nil, err
	}

	now := time.Now().UTC()
	tenant := &models.Tenant{
		Name:       strings.TrimSpace(p.Name),
		SchemaName: p.SchemaName,
		RoleName:   RoleName(s.dbName, p.SchemaName),
		PaidUntil:  p.PaidUntil,
		OnTrial:    p.OnTrial,
		CreatedOn:  models.NewDate(now),
		CreatedAt:  now,
		State:      models.StateActive,
	}
	body, later, err := s.migrationsAt(o.AtVersion)
	if err != nil {
		return nil, err
	}
	if err := s.ensureGroup(ctx); err != nil {
		return nil, err
	}
	var took time.Duration // provisioning, for the observer
	err = onConn(ctx, s.db, func(conn *gorm.DB, raw rawConn) error {
		cat := repository.NewCatalog(conn)
		return conn.Transaction(func(tx *gorm.DB) error {
			if o.Replace {
				if err := s.deleteExisting(ctx, tx, cat, tenant.SchemaName); err != nil {
					return err
				}
			}
			// The catalog row goes first: its unique schema_name makes a
			// concurrent creation of the same schema wait here, then fail
			// with a conflict, before either touches the schema.
			if err := cat.CreateTenant(ctx, tenant); err != nil {
				return err
			}
			for i, d := range domains {
				dom := models.Domain{Domain: d, TenantID: tenant.ID, IsPrimary: i == 0}
				if err := cat.CreateDomain(ctx, &dom); err != nil {
					return err
				}
				tenant.Domains = append(tenant.Domains, dom)
			}
			start := time.Now()
			if err := s.provisionAt(ctx, tx, raw, tenant, body); err != nil {
				return err
			}
			took = time.Since(start)
			if o.Populate != nil {
				if err := raw.do(func(c *pgx.Conn) error { return o.Populate(ctx, c, tenant) }); err != nil {
					return err
				}
			}
			if err := s.migrateForward(ctx, raw, tenant, later); err != nil {
				return err
			}
			return notify(ctx, tx, tenant.SchemaName)
		})
	})
	if err != nil {
		return nil, err
	}
	if s.provisioned != nil {
		s.provisioned(took)
	}
	s.changed()
	s.refill()
	return tenant, nil
}

// provisionAt provisions c's schema and role as provision does or, with
// body (see migrationsAt), at an older version, from body.
func (s *Service) provisionAt(ctx context.Context, tx *gorm.DB, raw rawConn, c *models.Tenant, body []string) error {
	if body == nil {
		return s.provision(ctx, tx, raw, c.SchemaName, c.RoleName)
	}
	stmts := repository.CreateSchemaStmts(c.SchemaName, c.RoleName, s.cluster.roles(), body, s.cluster.Citus)
	return provisionError(raw.execEach(ctx, stmts), c.SchemaName, c.RoleName)
}

// migrationsAt returns, for CreateOptions.AtVersion v, the provisioning
// body of the schema at version v (see buildSchemaStmts) and the
// migrations after v; nil and none for 0 or the latest version, which
// the usual provisioning serves.
func (s *Service) migrationsAt(v int64) (body []string, later []Migration, err error) {
	if v == 0 || v == s.migrations[len(s.migrations)-1].Version {
		return nil, nil, nil
	}
	for i, m := range s.migrations {
		if m.Version == v {
			body, err := buildSchemaStmts(s.migrations[:i+1])
			return body, s.migrations[i+1:], err
		}
	}
	return nil, nil, apperr.Errorf(apperr.EINVALID, "No tenant migration has the version %d.", v)
}

// migrateForward applies ms, the migrations after the version a schema
// was provisioned at, to the tenant c's schema on raw's connection, in
// its transaction: their statements, their rows in the version table,
// the role's grants on what they made, and the catalog's copy of the
// versions.
func (s *Service) migrateForward(ctx context.Context, raw rawConn, c *models.Tenant, ms []Migration) error {
	if len(ms) == 0 {
		return nil
	}
	for _, m := range ms {
		if err := raw.execEach(ctx, repository.TenantMigrationStmts(c.SchemaName, s.cluster.Citus, m.statements())); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	stmts := []string{repository.AddVersionsStmt(c.SchemaName, versions(ms))}
	if !s.cluster.Citus {
		stmts = append(stmts, repository.RecordVersionsStmt(c.SchemaName))
	}
	if err := raw.execEach(ctx, stmts); err != nil {
		return err
	}
	return grantExisting(ctx, raw.c, c.SchemaName, c.RoleName)
}

func (s *Service) changed() {
	if s.onChange != nil {
		s.onChange()
	}
}

// provision creates the schema with every tenant migration applied and
// recorded in its version table, and the tenant's role with its grants,
// all in tx (on raw's connection). It claims a spare schema when one is
// ready (a rename, see KeepSpares); otherwise it sends the whole
// provisioning DDL in one round trip, a statement per message (see
// ExecEach). Either way the cost does not depend on the number of tenants.
func (s *Service) provision(ctx context.Context, tx *gorm.DB, raw rawConn, schema, role string) error {
	// A claimed spare that vanished is retried with another, a few times.
	for range 3 {
		spare, err := s.claimSpare(ctx, tx)
		if err != nil {
			return err
		}
		if spare == "" {
			break
		}
		ok, err := s.provisionSpare(ctx, raw, spare, schema, role)
		if err != nil {
			return provisionError(err, schema, role)
		}
		if ok {
			return nil
		}
	}
	return provisionError(raw.execEach(ctx, s.provisionStmts(schema, role)), schema, role)
}

// provisionStmts returns the statements that create schema with every
// migration and its version table, and role with its grants, as the
// cluster wants them (see Cluster and repository.CreateSchemaStmts).
func (s *Service) provisionStmts(schema, role string) []string {
	return repository.CreateSchemaStmts(schema, role, s.cluster.roles(), s.schemaStmts, s.cluster.Citus)
}

// provisionError translates the errors of a provisioning script.
func provisionError(err error, schema, role string) error {
	switch pgerr.Code(err) {
	case pgerr.DuplicateSchema:
		return apperr.Wrap(apperr.ECONFLICT, err, "The schema \""+schema+"\" already exists.")
	case pgerr.DuplicateObject: // the only object the scripts create by a given name is the role
		return apperr.Wrap(apperr.ECONFLICT, err, "The role \""+role+"\" already exists.")
	}
	return err
}

// buildSchemaStmts returns the part of the provisioning that runs with
// the new schema as search_path, a statement each: every migration, then
// goose's version table with a row per version, exactly as goose would
// leave a schema it had migrated.
func buildSchemaStmts(ms []Migration) ([]string, error) {
	store, err := database.NewStore(database.DialectPostgres, VersionTable)
	if err != nil {
		return nil, err
	}
	rec := &recorder{}
	if err := store.CreateVersionTable(context.Background(), rec); err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Stmts...)
	}
	for _, q := range rec.stmts {
		out = append(out, SplitStatements(q)...)
	}
	// goose records version 0 when it creates the table; keep its shape.
	return append(out, repository.InsertVersionsStmt(versions(ms))), nil
}

// recorder collects the statements goose's store would execute, so the
// provisioning script creates the version table with goose's own DDL.
type recorder struct{ stmts []string }

func (r *recorder) ExecContext(_ context.Context, query string, _ ...any) (sql.Result, error) {
	r.stmts = append(r.stmts, query)
	return driver.RowsAffected(0), nil
}

func (r *recorder) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errors.New("tenants: recorder cannot query")
}

// QueryRowContext is never called by CreateVersionTable; a nil row makes
// any future use fail loudly at start-up.
func (r *recorder) QueryRowContext(context.Context, string, ...any) *sql.Row { return nil }

func versions(ms []Migration) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Version
	}
	return out
}

// dbtx is what grantExisting needs of a transaction.
type dbtx interface {
	execer
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// grantExisting gives role the grants of a new tenant role and the
// tables and sequences that exist in schema, but not its version table
// (repository.GrantExistingStmts). It runs after every migration, so
// that tables made by another login role (whose default privileges are
// not the tenant's) are granted too.
func grantExisting(ctx context.Context, tx dbtx, schema, role string) error {
	rows, err := tx.QueryContext(ctx, repository.SchemaRelationsSQL, schema)
	if err != nil {
		return err
	}
	var rels []repository.Relation
	for rows.Next() {
		var r repository.Relation
		if err := rows.Scan(&r.Name, &r.Sequence); err != nil {
			rows.Close()
			return err
		}
		rels = append(rels, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return execEachTx(ctx, tx, repository.GrantExistingStmts(schema, role, rels))
}

// notify announces a change to schema's catalog rows on CatalogChannel
// when tx commits.
func notify(ctx context.Context, tx *gorm.DB, schema string) error {
	return tx.WithContext(ctx).Exec(repository.NotifySQL, CatalogChannel, schema).Error
}

// DeleteTenant removes a tenant's catalog rows and its role; with
// dropSchema, also its schema and every row in it. ENOTFOUND when there is
// no such tenant.
func (s *Service) DeleteTenant(ctx context.Context, schema string, dropSchema bool) error {
	if err := ValidateSchemaName(schema); err != nil {
		return err
	}
	err := retryDeadlock(ctx, func() error {
		return s.deleteTenantIf(ctx, schema, dropSchema, nil)
	})
	if err != nil {
		return err
	}
	s.changed()
	return nil
}

// retryDeadlock runs tx, a whole transaction, again (up to 5 times, 20 ms
// apart and more each time) when PostgreSQL aborted it to break a
// deadlock: dropping a tenant's schema takes its tables' locks one by one
// while the tenant's requests may hold some and wait for others. Nothing
// of an aborted try remains.
func retryDeadlock(ctx context.Context, tx func() error) error {
	return pgerr.Retry{Max: 5, Backoff: 20 * time.Millisecond, If: pgerr.Retryable}.Do(ctx, tx)
}

// dropTenant deletes tenant in tx (cat on tx's connection): its catalog
// rows, its role and, with dropSchema, its schema and every row in it.
func (s *Service) dropTenant(ctx context.Context, tx *gorm.DB, cat *repository.Catalog, tenant *models.Tenant, dropSchema bool) error {
	if err := cat.DeleteTenant(ctx, tenant.ID); err != nil {
		return err
	}
	if dropSchema {
		if err := tx.Exec(repository.DropSchemaStmt(tenant.SchemaName)).Error; err != nil {
			return err
		}
		if err := tx.Exec(repository.DeleteVersionRecordSQL, tenant.SchemaName).Error; err != nil {
			return err
		}
	}
	if err := dropRole(ctx, tx, tenant.RoleName); err != nil {
		return err
	}
	return notify(ctx, tx, tenant.SchemaName)
}

// catalogTx runs fn in a transaction on one connection of db: tx is the
// transaction's handle, for the statements of this package, and cat the
// catalog on the same connection, whose statements join the transaction.
func catalogTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB, cat *repository.Catalog) error) error {
	return onConn(ctx, db, func(conn *gorm.DB, _ rawConn) error {
		cat := repository.NewCatalog(conn)
		return conn.Transaction(func(tx *gorm.DB) error { return fn(tx, cat) })
	})
}

// deleteExisting deletes, in tx, the tenant with schema if there is one:
// its catalog rows (through cat, on tx's connection), schema and role.
func (s *Service) deleteExisting(ctx context.Context, tx *gorm.DB, cat *repository.Catalog, schema string) error {
	tenant, err := cat.FindTenantBySchema(ctx, schema)
	if apperr.Code(err) == apperr.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if err := cat.DeleteTenant(ctx, tenant.ID); err != nil {
		return err
	}
	if err := tx.WithContext(ctx).Exec(repository.DropSchemaStmt(schema)).Error; err != nil {
		return err
	}
	return dropRole(ctx, tx, tenant.RoleName)
}

// dropRole drops role, with its grants, if it exists.
func dropRole(ctx context.Context, tx *gorm.DB, role string) error {
	var exists bool
	if err := tx.WithContext(ctx).Raw(repository.RoleExistsGormSQL, role).Scan(&exists).Error; err != nil {
		return err
	}
	if !exists {
		return nil
	}
	for _, stmt := range repository.DropRoleStmts(role) {
		if err := tx.WithContext(ctx).Exec(stmt).Error; err != nil {
			return err
		}
	}
	return nil
}

// ListParams selects tenants in ListTenants.
type ListParams = repository.TenantFilter

// ListTenants returns a page of tenants with their domains and the total.
func (s *Service) ListTenants(ctx context.Context, p ListParams) ([]models.Tenant, int64, error) {
	return repository.NewCatalog(s.db).FindTenants(ctx, p)
}

// FindTenant returns one tenant with its domains. ENOTFOUND when absent.
func (s *Service) FindTenant(ctx context.Context, schema string) (*models.Tenant, error) {
	if err := ValidateSchemaName(schema); err != nil {
		return nil, apperr.NoTenant(schema)
	}
	return repository.NewCatalog(s.db).FindTenantBySchema(ctx, schema)
}

// UpdateParams holds the tenant fields to change; nil means unchanged.
type UpdateParams struct {
	Name      *string
	PaidUntil **models.Date
	OnTrial   *bool
	State     *StateChange
}

// UpdateTenant changes a tenant's name, paid_until, on_trial or state
// (see StateChange), in one catalog transaction, announced to every
// process. ENOTFOUND, EINVALID.
func (s *Service) UpdateTenant(ctx context.Context, schema string, u UpdateParams) (*models.Tenant, error) {
	fields := apperr.Fields{}
	up := repository.TenantUpdate{PaidUntil: u.PaidUntil, OnTrial: u.OnTrial}
	if u.Name != nil {
		s.validateName(*u.Name, fields)
		trimmed := strings.TrimSpace(*u.Name)
		up.Name = &trimmed
	}
	if u.State != nil {
		u.State.apply(&up, time.Now(), fields)
	}
	if err := fields.Err(); err != nil {
		return nil, err
	}
	tenant, err := s.FindTenant(ctx, schema)
	if err != nil {
		return nil, err
	}
	err = catalogTx(ctx, s.db, func(tx *gorm.DB, cat *repository.Catalog) error {
		if err := cat.UpdateTenant(ctx, tenant.ID, up); err != nil {
			return err
		}
		return notify(ctx, tx, schema)
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.FindTenant(ctx, schema)
}

// AddDomain adds a domain to a tenant; primary makes it the tenant's only
// primary domain. ENOTFOUND, EINVALID, ECONFLICT.
func (s *Service) AddDomain(ctx context.Context, schema, domain string, primary bool) (*models.Domain, error) {
	fields := apperr.Fields{}
	ds := s.normalizeDomains([]string{domain}, fields)
	if err := fields.Err(); err != nil {
		return nil, err
	}
	var dom models.Domain
	err := catalogTx(ctx, s.db, func(tx *gorm.DB, cat *repository.Catalog) error {
		tenant, err := cat.FindTenantBySchema(ctx, schema)
		if err != nil {
			return err
		}
		dom = models.Domain{Domain: ds[0], TenantID: tenant.ID}
		if err := cat.CreateDomain(ctx, &dom); err != nil {
			return err
		}
		if primary || len(tenant.Domains) == 0 {
			if err := cat.SetPrimaryDomain(ctx, tenant.ID, dom.ID); err != nil {
				return err
			}
			dom.IsPrimary = true
		}
		return notify(ctx, tx, schema)
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return &dom, nil
}

// SetPrimaryDomain makes an existing domain its tenant's only primary
// domain and returns it with the tenant's schema name; a domain that is
// primary already is left as it is. ENOTFOUND when no tenant has it.
func (s *Service) SetPrimaryDomain(ctx context.Context, domain string) (*models.Domain, string, error) {
	d := NormalizeHost(domain)
	var dom *models.Domain
	var schema string
	err := catalogTx(ctx, s.db, func(tx *gorm.DB, cat *repository.Catalog) error {
		var err error
		if dom, err = cat.FindDomain(ctx, d); err != nil {
			return err
		}
		// The tenant's row is locked first, as RemoveDomain locks it, so
		// the two never interleave on one tenant's domains.
		tenant, err := cat.FindTenantForUpdate(ctx, dom.TenantID)
		if err != nil {
			return err
		}
		schema = tenant.SchemaName
		// What the domain is now, read under the lock.
		i := slices.IndexFunc(tenant.Domains, func(o models.Domain) bool { return o.ID == dom.ID })
		if i < 0 {
			return apperr.Errorf(apperr.ENOTFOUND, "No such domain %q.", d)
		}
		if tenant.Domains[i].IsPrimary {
			dom.IsPrimary = true
			return nil
		}
		if err := cat.SetPrimaryDomain(ctx, tenant.ID, dom.ID); err != nil {
			return err
		}
		dom.IsPrimary = true
		return notify(ctx, tx, schema)
	})
	if err != nil {
		return nil, "", err
	}
	s.changed()
	return dom, schema, nil
}

// RemoveDomain removes a domain. A tenant's last domain cannot be removed
// (EINVALID); removing the primary domain promotes another one.
// ENOTFOUND when no tenant has the domain.
func (s *Service) RemoveDomain(ctx context.Context, domain string) error {
	d := NormalizeHost(domain)
	err := catalogTx(ctx, s.db, func(tx *gorm.DB, cat *repository.Catalog) error {
		dom, err := cat.FindDomain(ctx, d)
		if err != nil {
			return err
		}
		tenant, err := cat.FindTenantForUpdate(ctx, dom.TenantID)
		if err != nil {
			return err
		}
		if len(tenant.Domains) <= 1 {
			return apperr.Errorf(apperr.EINVALID, "The domain %q is the last domain of tenant %q; add another first or delete the tenant.", d, tenant.SchemaName)
		}
		if err := cat.DeleteDomain(ctx, dom.ID); err != nil {
			return err
		}
		if dom.IsPrimary {
			for _, other := range tenant.Domains {
				if other.ID != dom.ID {
					if err := cat.SetPrimaryDomain(ctx, tenant.ID, other.ID); err != nil {
						return err
					}
					break
				}
			}
		}
		return notify(ctx, tx, tenant.SchemaName)
	})
	if err != nil {
		return err
	}
	s.changed()
	return nil
}
