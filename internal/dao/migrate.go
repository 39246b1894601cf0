package dao

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Schema changes are versioned SQL files, one set per dialect, because
// production DDL is reviewed as SQL (Archery) before it runs: `mgvcore migrate
// print` emits exactly what `migrate up` would execute.
//
//go:embed migrations
var migrationFiles embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// MigrationState is a migration and when it was applied (zero: pending).
type MigrationState struct {
	Migration
	AppliedAt time.Time
	// StatementsDone is how many of the statements of a pending migration
	// a MySQL `migrate up` that stopped part-way applied: the next one goes
	// on after them.
	StatementsDone int
}

const (
	migrationsTable = "schema_migrations"
	// statementsTable records, on MySQL, the statements of a migration
	// applied so far; the rows go once the migration is recorded.
	statementsTable = "schema_migration_statements"
)

// Migrations lists the migrations of a dialect (mysql or sqlite) in order.
func Migrations(dialect string) ([]Migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations for %q: %w", dialect, err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s: name must start with a number and an underscore", name)
		}
		data, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), SQL: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations with version %d", out[i].Version)
		}
	}
	return out, nil
}

// Migrator applies the migrations of its dialect to a database.
type Migrator struct {
	db      *gorm.DB
	dialect string
}

// NewMigrator works on db, whose dialect is the gorm dialector name.
func NewMigrator(db *gorm.DB) *Migrator {
	return &Migrator{db: db, dialect: db.Name()}
}

func (m *Migrator) bookkeepingDDL() string { return bookkeepingDDL(m.dialect)[migrationsTable] }

// bookkeepingDDL creates the tables of `migrate up`'s own records, by name.
func bookkeepingDDL(dialect string) map[string]string {
	if dialect == "mysql" {
		return map[string]string{
			migrationsTable: "CREATE TABLE IF NOT EXISTS " + migrationsTable + " (\n" +
				"  version    INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'migration number',\n" +
				"  name       VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'migration name',\n" +
				"  applied_at DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it was applied (UTC)',\n" +
				"  PRIMARY KEY (version)\n" +
				") ENGINE=InnoDB COMMENT='applied schema migrations (mgvcore migrate)'",
			statementsTable: "CREATE TABLE IF NOT EXISTS " + statementsTable + " (\n" +
				"  version    INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'migration number',\n" +
				"  name       VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'migration name',\n" +
				"  statement  INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'statement number in the migration, from 1',\n" +
				"  applied_at DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT 'when it was applied (UTC)',\n" +
				"  PRIMARY KEY (version, statement)\n" +
				") ENGINE=InnoDB COMMENT='statements applied of migrations not yet recorded in " + migrationsTable + " (mgvcore migrate)'",
		}
	}
	return map[string]string{migrationsTable: "CREATE TABLE IF NOT EXISTS " + migrationsTable + " (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at DATETIME NOT NULL)"}
}

// bookkeepingTables are the tables of bookkeepingDDL, in the order they are made.
func bookkeepingTables(dialect string) []string {
	if dialect == "mysql" {
		return []string{migrationsTable, statementsTable}
	}
	return []string{migrationsTable}
}

// Baseline is the schema of a dialect at one version in a single piece
// (migrations/<dialect>/baseline), if the dialect has one: an empty
// database gets it instead of every migration up to that version, so that
// a new install is reviewed as the schema it ends with.
func Baseline(dialect string) (*Migration, error) {
	dir := path.Join("migrations", dialect, "baseline")
	entries, err := fs.ReadDir(migrationFiles, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out *Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || out != nil {
			return nil, fmt.Errorf("baseline %s: one file whose name starts with its version and an underscore", name)
		}
		data, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = &Migration{Version: v, Name: "baseline_" + strings.TrimSuffix(name, ".sql"), SQL: string(data)}
	}
	return out, nil
}

// step is what one run of a migration executes: its SQL, then the
// versions it records as applied (a baseline records every migration it
// stands for).
type step struct {
	Migration
	records  []Migration
	baseline bool
	done     int // statements applied by an earlier run that stopped (MySQL)
}

// plan is what `migrate up` does to a database.
type plan struct {
	bookkeeping []string // the bookkeeping tables still to be created
	steps       []step
}

func (p plan) migrations() []Migration {
	var out []Migration
	for _, s := range p.steps {
		out = append(out, s.records...)
	}
	return out
}

// makePlan lays out pending: on an empty database (nothing applied) the
// baseline, if any, stands for the migrations up to its version.
func makePlan(dialect string, pending []Migration, fresh bool, bookkeeping []string) (plan, error) {
	p := plan{bookkeeping: bookkeeping}
	if fresh {
		base, err := Baseline(dialect)
		if err != nil {
			return p, err
		}
		if base != nil {
			var covered []Migration
			for len(pending) > 0 && pending[0].Version <= base.Version {
				covered = append(covered, pending[0])
				pending = pending[1:]
			}
			if len(covered) == 0 || covered[len(covered)-1].Version != base.Version {
				return p, fmt.Errorf("baseline %s: no migration of version %d", base.Name, base.Version)
			}
			p.steps = append(p.steps, step{Migration: *base, records: covered, baseline: true})
		}
	}
	for _, mig := range pending {
		p.steps = append(p.steps, step{Migration: mig, records: []Migration{mig}})
	}
	return p, nil
}

// hasTable tells whether a bookkeeping table exists, without creating it.
func (m *Migrator) hasTable(ctx context.Context, table string) (bool, error) {
	var n int64
	var err error
	if m.dialect == "mysql" {
		err = m.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", table).Scan(&n).Error
	} else {
		err = m.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&n).Error
	}
	if err != nil {
		return false, fmt.Errorf("table %s: %w", table, err)
	}
	return n > 0, nil
}

// Status lists every migration with the time it was applied. It only reads.
func (m *Migrator) Status(ctx context.Context) ([]MigrationState, error) {
	states, _, _, err := m.status(ctx)
	return states, err
}

// status also returns the bookkeeping tables still to be created and, by
// migration name (a baseline's included), the statements applied of those
// not recorded yet.
func (m *Migrator) status(ctx context.Context) (states []MigrationState, missing []string, done map[string]int, err error) {
	all, err := Migrations(m.dialect)
	if err != nil {
		return nil, nil, nil, err
	}
	db := m.db.WithContext(ctx)
	var rows []struct {
		Version   int
		AppliedAt time.Time
	}
	var stmts []struct {
		Name string
		Done int
	}
	for _, table := range bookkeepingTables(m.dialect) {
		ok, err := m.hasTable(ctx, table)
		switch {
		case err != nil:
			return nil, nil, nil, err
		case !ok:
			missing = append(missing, table)
		case table == migrationsTable:
			err = db.Table(migrationsTable).Select("version, applied_at").Find(&rows).Error
		default:
			err = db.Raw("SELECT name, MAX(statement) AS done FROM " + statementsTable + " GROUP BY version, name").Scan(&stmts).Error
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("reading %s: %w", table, err)
		}
	}
	applied := make(map[int]time.Time, len(rows))
	for _, r := range rows {
		applied[r.Version] = r.AppliedAt
	}
	done = make(map[string]int, len(stmts))
	for _, r := range stmts {
		done[r.Name] = r.Done
	}
	states = make([]MigrationState, len(all))
	for i, mig := range all {
		states[i] = MigrationState{Migration: mig, AppliedAt: applied[mig.Version]}
		if states[i].AppliedAt.IsZero() {
			states[i].StatementsDone = done[mig.Name]
		}
	}
	return states, missing, done, nil
}

// Pending lists the migrations not applied yet. It only reads.
func (m *Migrator) Pending(ctx context.Context) ([]Migration, error) {
	p, err := m.plan(ctx)
	if err != nil {
		return nil, err
	}
	return p.migrations(), nil
}

func (m *Migrator) plan(ctx context.Context) (plan, error) {
	states, missing, done, err := m.status(ctx)
	if err != nil {
		return plan{}, err
	}
	var pending []Migration
	for _, s := range states {
		if s.AppliedAt.IsZero() {
			pending = append(pending, s.Migration)
		}
	}
	p, err := makePlan(m.dialect, pending, len(pending) == len(states), missing)
	if err != nil {
		return p, err
	}
	for i := range p.steps {
		p.steps[i].done = done[p.steps[i].Name]
	}
	return p, unfinished(p, done)
}

// unfinished refuses statements recorded of a migration no step of p goes
// on with: an earlier version's `migrate up` stopped part-way through a
// migration this version does not have (a baseline of an earlier version,
// renamed as the baseline moves on). Starting over would fail on what it
// made, and recording the rest by hand would leave its tables as that
// version's schema while later migrations are recorded applied.
func unfinished(p plan, done map[string]int) error {
	names := make([]string, 0, len(done))
	for name := range done {
		if !slices.ContainsFunc(p.steps, func(s step) bool { return s.Name == name }) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	name := names[0]
	advice := "finish it with the version that started it (its `mgvcore migrate up`), then run this version's"
	if strings.HasPrefix(name, "baseline_") {
		advice += "; or, as that was a new install, drop the database, create it again empty and run `mgvcore migrate up`"
	}
	return fmt.Errorf("migrate: a `migrate up` of an earlier version stopped part-way through %s (%d statements applied, recorded in %s), which this version does not have: %s",
		name, done[name], statementsTable, advice)
}

// Print writes, for review, the DDL that `migrate up` would run on this
// database. It only reads.
func (m *Migrator) Print(ctx context.Context, w io.Writer) (int, error) {
	p, err := m.plan(ctx)
	if err != nil {
		return 0, err
	}
	return writePlan(w, m.dialect, p)
}

// PrintSchema writes, for review, the DDL that `migrate up` runs on an
// empty database of the dialect; it needs no database.
func PrintSchema(w io.Writer, dialect string) (int, error) {
	all, err := Migrations(dialect)
	if err != nil {
		return 0, err
	}
	p, err := makePlan(dialect, all, true, bookkeepingTables(dialect))
	if err != nil {
		return 0, err
	}
	return writePlan(w, dialect, p)
}

// writePlan prints the statements of p, each ending with a semicolon, and
// returns how many migrations they apply. The rows `migrate up` then writes
// into the migrations table are printed as comments only.
func writePlan(w io.Writer, dialect string, p plan) (int, error) {
	migs := p.migrations()
	if len(migs) == 0 {
		return 0, nil
	}
	var b strings.Builder
	if len(p.bookkeeping) > 0 {
		fmt.Fprintf(&b, "-- bookkeeping of `mgvcore migrate`\n")
		for _, table := range p.bookkeeping {
			fmt.Fprintf(&b, "%s;\n\n", bookkeepingDDL(dialect)[table])
		}
	}
	for _, s := range p.steps {
		stmts := Statements(s.SQL)
		if s.done > 0 {
			fmt.Fprintf(&b, "-- migration %s, from statement %d of %d (a `migrate up` that stopped applied those before)\n",
				s.Name, s.done+1, len(stmts))
		} else {
			fmt.Fprintf(&b, "-- migration %s\n", s.Name)
		}
		for _, stmt := range stmts[min(s.done, len(stmts)):] {
			fmt.Fprintf(&b, "%s;\n\n", stmt)
		}
	}
	fmt.Fprintf(&b, "-- `mgvcore migrate up` runs the statements above, then records them as below. These rows\n"+
		"-- are left out of the review (goInception takes no DDL and DML of one table in one work order):\n")
	if dialect == "mysql" {
		fmt.Fprintf(&b, "-- (and after each statement but the last of a migration, a row in %s, which the\n"+
			"-- migration's own row below replaces: a `migrate up` that stops goes on after the statements recorded there)\n", statementsTable)
	}
	for _, mig := range migs {
		fmt.Fprintf(&b, "-- INSERT INTO %s (version, name, applied_at) VALUES (%d, '%s', CURRENT_TIMESTAMP(3));\n",
			migrationsTable, mig.Version, mig.Name)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return 0, err
	}
	return len(migs), nil
}

// migrateLockName is the named lock of Up on MySQL.
const migrateLockName = "mgvcore_migrate"

// Up applies every pending migration in order. On MySQL a named lock keeps
// two instances from migrating at once, and a migration is applied
// statement by statement (applyByStatement); SQLite runs each in a
// transaction. It returns the migrations applied, those a baseline stood
// for included.
func (m *Migrator) Up(ctx context.Context) (_ []Migration, upErr error) {
	lock, held, err := TakeNamedLock(ctx, m.db, migrateLockName, time.Minute)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if !held {
		return nil, errors.New("migrate: another instance has held the migration lock for a minute: it is still migrating")
	}
	defer lock.Release()
	// A migration goes on only while the lock holds: another instance
	// could otherwise take it and apply the same statements beside it.
	ctx, stop := lock.WhileHeld(ctx)
	defer stop()
	defer func() {
		if upErr != nil && errors.Is(context.Cause(ctx), ErrLockLost) {
			upErr = fmt.Errorf("migrate: %w; stopped: %w", ErrLockLost, upErr)
		}
	}()
	db := m.db.WithContext(ctx)
	p, err := m.plan(ctx)
	if err != nil {
		return nil, err
	}
	if len(p.steps) == 0 {
		return nil, nil
	}
	if m.dialect == "mysql" && p.steps[0].baseline {
		// The baseline's tables take the database's character set.
		var charset string
		if err := db.Raw("SELECT @@character_set_database").Scan(&charset).Error; err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if charset != "utf8mb4" {
			return nil, fmt.Errorf("migrate: the database's character set is %s: create it with CHARACTER SET utf8mb4 (or ALTER DATABASE ... CHARACTER SET utf8mb4)", charset)
		}
	}
	for _, table := range bookkeepingTables(m.dialect) {
		if err := db.Exec(bookkeepingDDL(m.dialect)[table]).Error; err != nil {
			return nil, fmt.Errorf("table %s: %w", table, err)
		}
	}
	var done []Migration
	for i, s := range p.steps {
		var err error
		if m.dialect == "mysql" {
			err = m.applyByStatement(db, s, i == 0)
		} else {
			err = db.Transaction(func(tx *gorm.DB) error {
				for _, stmt := range Statements(s.SQL) {
					if err := tx.Exec(stmt).Error; err != nil {
						return fmt.Errorf("%w\nstatement: %s", err, firstLine(stmt))
					}
				}
				return m.record(tx, s)
			})
		}
		if err != nil {
			return done, fmt.Errorf("migration %s: %w", s.Name, err)
		}
		done = append(done, s.records...)
	}
	return done, nil
}

// applyByStatement applies s on MySQL, which commits each DDL statement by
// itself: a transaction around a migration would not take back its first
// statements when a later one fails or the process is killed. Each
// statement but the last is recorded in schema_migration_statements once it
// has run, and the next run starts after the recorded ones (s.done); the
// last is recorded with the migration, in one transaction that also deletes
// the migration's statement rows.
//
// What remains is a stop (a kill, a lost connection) during a statement
// (MySQL finishes a DDL statement whose client has gone) or between it and
// its record: the statement is applied, its record is not, and the next
// run executes it again, which then fails ("Duplicate column", "Table ...
// already exists"). That can only be the first statement a run executes
// (first: s is the first migration of the run), so its error says that the
// statement may already be applied, what to check and how to record it.
func (m *Migrator) applyByStatement(db *gorm.DB, s step, first bool) error {
	stmts := Statements(s.SQL)
	for i := s.done; i < len(stmts); i++ {
		if err := db.Exec(stmts[i]).Error; err != nil {
			err = fmt.Errorf("statement %d of %d: %w\nstatement: %s", i+1, len(stmts), err, firstLine(stmts[i]))
			if first && i == s.done {
				err = fmt.Errorf("%w\nThis statement may already be applied: a `migrate up` stopped while or right after running it leaves it applied but unrecorded.\n"+
					"Check whether the database already has what it makes (SHOW CREATE TABLE); if it has, record it with\n%s\n"+
					"and run `migrate up` again; if it has not, the statement fails by itself: see the error above", err, recordSQL(s, i, len(stmts)))
			}
			return err
		}
		if i == len(stmts)-1 {
			break
		}
		if err := db.Exec("INSERT INTO "+statementsTable+" (version, name, statement, applied_at) VALUES (?, ?, ?, ?)",
			s.Version, s.Name, i+1, time.Now().UTC()).Error; err != nil {
			return fmt.Errorf("statement %d of %d is applied but could not be recorded: %w\nrecord it with\n%s",
				i+1, len(stmts), err, recordSQL(s, i, len(stmts)))
		}
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return m.record(tx, s) }); err != nil {
		return fmt.Errorf("its statements are applied but it could not be recorded: %w\nrecord it with\n%s",
			err, recordSQL(s, len(stmts)-1, len(stmts)))
	}
	return nil
}

// record writes, in tx, the versions s applied and, on MySQL, deletes its
// statement rows.
func (m *Migrator) record(tx *gorm.DB, s step) error {
	for _, mig := range s.records {
		if err := tx.Exec("INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES (?, ?, ?)",
			mig.Version, mig.Name, time.Now().UTC()).Error; err != nil {
			return err
		}
	}
	if m.dialect == "mysql" {
		return tx.Exec("DELETE FROM "+statementsTable+" WHERE version = ?", s.Version).Error
	}
	return nil
}

// recordSQL is what records statement i (from 0) of the n of s by hand, as
// `migrate up` would have after running it.
func recordSQL(s step, i, n int) string {
	if i < n-1 {
		return fmt.Sprintf("  INSERT INTO %s (version, name, statement, applied_at) VALUES (%d, '%s', %d, CURRENT_TIMESTAMP(3));",
			statementsTable, s.Version, s.Name, i+1)
	}
	var b strings.Builder
	for _, mig := range s.records {
		fmt.Fprintf(&b, "  INSERT INTO %s (version, name, applied_at) VALUES (%d, '%s', CURRENT_TIMESTAMP(3));\n",
			migrationsTable, mig.Version, mig.Name)
	}
	fmt.Fprintf(&b, "  DELETE FROM %s WHERE version = %d;", statementsTable, s.Version)
	return b.String()
}

// Statements splits a migration into statements: they end with a semicolon
// at the end of a line; comment lines are dropped.
func Statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmt := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			out = append(out, stmt)
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// ErrMigrationsPending tells the service that the schema is behind.
var ErrMigrationsPending = errors.New("database schema is behind: run `mgvcore migrate up` (after review of `mgvcore migrate print`)")
