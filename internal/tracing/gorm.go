package tracing

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// gormSpanKey keeps a query's span on its statement between the callbacks.
const gormSpanKey = "tracing:span"

// GormPlugin traces every query gorm runs inside a traced call as a
// gorm.query client span carrying the SQL (with placeholders, never the
// values) in db.statement. Install it with db.Use(tracing.GormPlugin(t)).
func GormPlugin(t Tracer) gorm.Plugin { return gormPlugin{t: t} }

type gormPlugin struct{ t Tracer }

func (gormPlugin) Name() string { return "mgv:tracing" }

func (p gormPlugin) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	// Around the statement itself, so hooks and associations do not count.
	hooks := []struct {
		operation     string
		before, after gormCallback
	}{
		{"create", cb.Create().Before("gorm:create"), cb.Create().After("gorm:create")},
		{"query", cb.Query().Before("gorm:query"), cb.Query().After("gorm:query")},
		{"update", cb.Update().Before("gorm:update"), cb.Update().After("gorm:update")},
		{"delete", cb.Delete().Before("gorm:delete"), cb.Delete().After("gorm:delete")},
		{"row", cb.Row().Before("gorm:row"), cb.Row().After("gorm:row")},
		{"raw", cb.Raw().Before("gorm:raw"), cb.Raw().After("gorm:raw")},
	}
	for _, h := range hooks {
		if err := h.before.Register("tracing:before_"+h.operation, p.before(h.operation)); err != nil {
			return err
		}
		if err := h.after.Register("tracing:after_"+h.operation, p.after); err != nil {
			return err
		}
	}
	return nil
}

type gormCallback interface {
	Register(name string, fn func(*gorm.DB)) error
}

func (p gormPlugin) before(operation string) func(*gorm.DB) {
	return func(db *gorm.DB) {
		ctx := db.Statement.Context
		if ctx == nil {
			return
		}
		_, span := p.t.StartClient(ctx, "gorm.query")
		if _, off := span.(noopSpan); off {
			return
		}
		span.SetTag("db.system", db.Name())
		span.SetTag("db.operation", operation)
		db.InstanceSet(gormSpanKey, span)
	}
}

func (gormPlugin) after(db *gorm.DB) {
	v, ok := db.InstanceGet(gormSpanKey)
	if !ok {
		return
	}
	span, ok := v.(Span)
	if !ok {
		return
	}
	span.SetTag("db.statement", db.Statement.SQL.String())
	if db.Statement.Table != "" {
		span.SetTag("db.table", db.Statement.Table)
	}
	span.SetTag("db.rows_affected", db.Statement.RowsAffected)
	// Not found is an answer, not a failure of the database.
	if err := db.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, context.Canceled) {
		span.SetError(err)
	}
	span.Finish()
}
