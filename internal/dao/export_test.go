package dao

// What the external tests check of the package's insides. They are external
// (package dao_test) so that they can open their databases with daotest,
// which imports dao.
var (
	DecodePart     = decodePart
	MetricsColumns = metricsColumns
)

const (
	PartBytes       = partBytes
	MigrationsTable = migrationsTable
	StatementsTable = statementsTable
)

// BookkeepingDDL creates the migrations table, for a test that builds an
// old schema by hand.
func (m *Migrator) BookkeepingDDL() string { return m.bookkeepingDDL() }
