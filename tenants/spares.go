package tenants

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/repository"
	"gorm.io/gorm"
)

// Spare schemas are tenant schemas built ahead of need, with every tenant
// migration applied and a role of their own with its grants, and claimed
// by CreateTenant with two renames: creating a schema costs a file per
// table, index and sequence (tens of milliseconds or more on a busy disk),
// renaming a schema and a role costs a catalog row each, and the role's
// grants follow it.
//
// A spare schema and its role are named sparePrefix + the migration
// version + "-" + random hex. The hyphen makes the name one no tenant
// schema or role can have (ValidateSchemaName and RoleName allow none), so
// a spare is never mistaken for a tenant, and the version keeps a spare
// built by older migrations from being claimed.
const sparePrefix = "strictmt-spare-"

// spareLockClass is the first key of the transaction advisory lock a
// claim or a drop takes on a spare (the second is hashtext of its name),
// so that two transactions never use the same spare.
const spareLockClass = 0x53706172 // "Spar"

// fillLockID is the advisory lock that makes fillers of every process take
// turns, so that together they keep exactly the target.
const fillLockID int64 = 0x537472696374537 // "StrictS"

// spareName returns a fresh spare schema name for migration version v.
func spareName(v int64) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return sparePrefix + strconv.FormatInt(v, 10) + "-" + hex.EncodeToString(b[:])
}

// spareVersion returns the migration version in a spare's name.
func spareVersion(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, sparePrefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "-")
	v, err := strconv.ParseInt(num, 10, 64)
	return v, ok && err == nil
}

func (s *Service) latestVersion() int64 { return s.migrations[len(s.migrations)-1].Version }

// claimSpare locks and returns the name of a spare at the latest version,
// or "" when there is none free. The lock lasts until tx ends; a spare
// locked by another transaction is skipped.
func (s *Service) claimSpare(ctx context.Context, tx *gorm.DB) (string, error) {
	prefix := sparePrefix + strconv.FormatInt(s.latestVersion(), 10) + "-"
	var names []string
	err := tx.WithContext(ctx).Raw(repository.ClaimSpareSQL, prefix, spareLockClass).Scan(&names).Error
	if err != nil || len(names) == 0 {
		return "", err
	}
	return names[0], nil
}

// FillSpares builds spare schemas until target of them are ready, and
// drops spares built by older migrations (a target of 0 only drops those).
// Fillers of every process take turns; while another one is at work
// FillSpares returns at once. It returns how many spares it built.
func (s *Service) FillSpares(ctx context.Context, target int) (int, error) {
	built := 0
	for {
		more, err := s.fillOne(ctx, target)
		if err != nil || !more {
			return built, err
		}
		built++
	}
}

// fillOne builds one spare, in its own transaction so that claims never
// wait for a filler, and reports whether it did.
func (s *Service) fillOne(ctx context.Context, target int) (built bool, err error) {
	latest := s.latestVersion()
	if err := s.ensureGroup(ctx); err != nil {
		return false, err
	}
	err = onConn(ctx, s.db, func(conn *gorm.DB, raw rawConn) error {
		return conn.Transaction(func(tx *gorm.DB) error {
			var mine bool
			if err := tx.Raw(repository.TryAdvisoryXactLockSQL, fillLockID).Scan(&mine).Error; err != nil || !mine {
				return err
			}
			var spares []struct {
				Name    string
				HasRole bool
			}
			if err := tx.Raw(repository.SparesSQL, sparePrefix).Scan(&spares).Error; err != nil {
				return err
			}
			ready := 0
			var drop []string
			for _, sp := range spares {
				v, ok := spareVersion(sp.Name)
				switch {
				case ok && v == latest && sp.HasRole:
					ready++
				case ok && (v < latest || v == latest && !sp.HasRole):
					// Only older or broken spares: a newer process's spares
					// are its own.
					drop = append(drop, sp.Name)
				}
			}
			for _, n := range drop {
				var free bool
				if err := tx.Raw(repository.TryAdvisoryXactLockNameSQL, spareLockClass, n).Scan(&free).Error; err != nil {
					return err
				}
				if free {
					if err := raw.execEach(ctx, repository.DropSpareStmts(n)); err != nil {
						return err
					}
				}
			}
			if ready >= target {
				return nil
			}
			name := spareName(latest)
			if err := raw.execEach(ctx, s.provisionStmts(name, name)); err != nil {
				return err
			}
			built = true
			return nil
		})
	})
	return built && err == nil, err
}

// spareKeeper refills the spare pool in the background.
type spareKeeper struct {
	target int
	log    *slog.Logger
	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// KeepSpares makes the service keep target spare schemas ready: it fills
// the pool in the background now and after every tenant creation. Errors
// are logged to log and retried at the next creation or after a minute.
// Close stops it. A target of 0 or less does nothing; CreateTenant claims
// spares whenever there are any, kept by this process or another.
func (s *Service) KeepSpares(target int, log *slog.Logger) {
	if target <= 0 || s.spares != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &spareKeeper{target: target, log: log, kick: make(chan struct{}, 1), cancel: cancel}
	s.spares = k
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		for {
			if _, err := s.FillSpares(ctx, k.target); err != nil && ctx.Err() == nil {
				k.log.Warn("keeping spare tenant schemas", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-k.kick:
			case <-time.After(time.Minute):
			}
		}
	}()
}

// refill asks the keeper, if any, to top the pool up.
func (s *Service) refill() {
	if s.spares == nil {
		return
	}
	select {
	case s.spares.kick <- struct{}{}:
	default:
	}
}

// Close stops keeping spares and waits for a spare being built, which is
// rolled back. The service itself stays usable.
func (s *Service) Close() {
	if s.spares == nil {
		return
	}
	s.spares.cancel()
	s.spares.wg.Wait()
}

// provisionSpare turns a claimed spare into schema with role: the spare's
// schema and role are renamed, and the role's grants and default
// privileges follow. ok is false when the spare vanished meanwhile
// (claimed by a transaction that committed between the candidate scan and
// the lock), leaving tx as it was.
func (s *Service) provisionSpare(ctx context.Context, raw rawConn, spare, schema, role string) (ok bool, err error) {
	err = raw.execEach(ctx, repository.ClaimSpareStmts(spare, schema, role, s.cluster.roles()))
	if pgerr.Is(err, pgerr.InvalidSchemaName, pgerr.UndefinedObject) { // the spare or its role is gone
		if rerr := raw.execEach(ctx, []string{repository.RollBackClaimStmt}); rerr != nil {
			return false, rerr
		}
		return false, nil
	}
	return err == nil, err
}
