package dao

import (
	"time"

	"github.com/rs/zerolog"
	"gorm.io/gorm"
)

// What the external tests check of the package's insides. They are external
// (package dao_test) so that they can open their databases with daotest,
// which imports dao.
var (
	DecodePart     = decodePart
	MetricsColumns = metricsColumns
	// Conn is the connection the dao calls made with a context use: its
	// transaction's, if it carries one.
	Conn = conn
)

const (
	BumpManyRows    = bumpManyRows
	PartBytes       = partBytes
	MigrationsTable = migrationsTable
	StatementsTable = statementsTable
)

// SetMentionBatchBytes sets the text a FindMentions batch reads, until the
// test ends.
func SetMentionBatchBytes(t interface{ Cleanup(func()) }, n int) {
	was := mentionBatchBytes
	mentionBatchBytes = n
	t.Cleanup(func() { mentionBatchBytes = was })
}

// BookkeepingDDL creates the migrations table, for a test that builds an
// old schema by hand.
func (m *Migrator) BookkeepingDDL() string { return m.bookkeepingDDL() }

// NewTestWAL is a WAL with its delays and its bounds given, telling
// truncated of each background truncation.
func NewTestWAL(db *gorm.DB, delay, every time.Duration, tries int, busy, pause time.Duration, truncated func(error)) *WAL {
	w := newWAL(db, zerolog.Nop(), delay, every, truncated)
	w.tries, w.busy, w.pause = tries, busy, pause
	return w
}

// ExternalMatch is the condition by which lookups and erasures find the
// outside speakers named, or keyed, one of names.
func (p *Privacy) ExternalMatch(tenantID int64, names []string, upTo any) (string, []any) {
	return p.externalMatch(tenantID, names, upTo)
}

// StatementsDDL creates the MySQL statements table, for a test that plays
// an earlier version's stopped `migrate up`.
func StatementsDDL() string { return bookkeepingDDL("mysql")[statementsTable] }
