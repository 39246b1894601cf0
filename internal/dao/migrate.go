package dao

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
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
}

const migrationsTable = "schema_migrations"

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

func (m *Migrator) bookkeepingDDL() string {
	if m.dialect == "mysql" {
		return "CREATE TABLE IF NOT EXISTS " + migrationsTable + " (\n" +
			"  version    INT          NOT NULL,\n" +
			"  name       VARCHAR(255) NOT NULL,\n" +
			"  applied_at DATETIME(3)  NOT NULL,\n" +
			"  PRIMARY KEY (version)\n" +
			") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	}
	return "CREATE TABLE IF NOT EXISTS " + migrationsTable + " (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at DATETIME NOT NULL)"
}

// Status lists every migration with the time it was applied.
func (m *Migrator) Status(ctx context.Context) ([]MigrationState, error) {
	all, err := Migrations(m.dialect)
	if err != nil {
		return nil, err
	}
	if err := m.db.WithContext(ctx).Exec(m.bookkeepingDDL()).Error; err != nil {
		return nil, fmt.Errorf("migrations table: %w", err)
	}
	var rows []struct {
		Version   int
		AppliedAt time.Time
	}
	if err := m.db.WithContext(ctx).Table(migrationsTable).Select("version, applied_at").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("reading %s: %w", migrationsTable, err)
	}
	applied := make(map[int]time.Time, len(rows))
	for _, r := range rows {
		applied[r.Version] = r.AppliedAt
	}
	out := make([]MigrationState, len(all))
	for i, mig := range all {
		out[i] = MigrationState{Migration: mig, AppliedAt: applied[mig.Version]}
	}
	return out, nil
}

// Pending lists the migrations not applied yet.
func (m *Migrator) Pending(ctx context.Context) ([]Migration, error) {
	states, err := m.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, s := range states {
		if s.AppliedAt.IsZero() {
			out = append(out, s.Migration)
		}
	}
	return out, nil
}

// Print writes the pending DDL, with its bookkeeping, for review.
func (m *Migrator) Print(ctx context.Context, w io.Writer) (int, error) {
	pending, err := m.Pending(ctx)
	if err != nil {
		return 0, err
	}
	if len(pending) == 0 {
		return 0, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s;\n\n", m.bookkeepingDDL())
	for _, mig := range pending {
		fmt.Fprintf(&b, "-- migration %s\n%s\n", mig.Name, strings.TrimSpace(mig.SQL))
		fmt.Fprintf(&b, "INSERT INTO %s (version, name, applied_at) VALUES (%d, '%s', CURRENT_TIMESTAMP(3));\n\n",
			migrationsTable, mig.Version, mig.Name)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return 0, err
	}
	return len(pending), nil
}

// Up applies every pending migration in order. On MySQL a named lock keeps
// two instances from migrating at once; SQLite runs each in a transaction.
func (m *Migrator) Up(ctx context.Context) (_ []Migration, upErr error) {
	db := m.db.WithContext(ctx)
	if m.dialect == "mysql" {
		conn, err := db.DB()
		if err != nil {
			return nil, err
		}
		c, err := conn.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		defer func() { upErr = errors.Join(upErr, c.Close()) }()
		var got int
		if err := c.QueryRowContext(ctx, "SELECT GET_LOCK('mgvcore_migrate', 60)").Scan(&got); err != nil || got != 1 {
			return nil, fmt.Errorf("migrate: another instance holds the migration lock (%v)", err)
		}
		defer c.ExecContext(context.Background(), "SELECT RELEASE_LOCK('mgvcore_migrate')") //nolint:errcheck
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		return nil, err
	}
	for i, mig := range pending {
		err := db.Transaction(func(tx *gorm.DB) error {
			for _, stmt := range Statements(mig.SQL) {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("%w\nstatement: %s", err, firstLine(stmt))
				}
			}
			return tx.Exec("INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES (?, ?, ?)",
				mig.Version, mig.Name, time.Now().UTC()).Error
		})
		if err != nil {
			return pending[:i], fmt.Errorf("migration %s: %w", mig.Name, err)
		}
	}
	return pending, nil
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
