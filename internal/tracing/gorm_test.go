package tracing

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

type note struct {
	ID   uint
	Text string
}

func tracedDB(t *testing.T, tr Tracer) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "t.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&note{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Use(GormPlugin(tr)); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestGormQueriesAreChildSpans(t *testing.T) {
	rec := NewRecorder()
	db := tracedDB(t, rec)
	ctx, server := rec.StartServer(context.Background(), "op", nil)
	tx := db.WithContext(ctx)

	n := note{Text: "hello"}
	steps := []struct {
		operation string
		run       func() error
		wantErr   bool
	}{
		{"create", func() error { return tx.Create(&n).Error }, false},
		{"query", func() error { var got note; return tx.First(&got, n.ID).Error }, false},
		{"query", func() error { var got note; return tx.First(&got, 999).Error }, false}, // not found is no failure
		{"update", func() error { return tx.Model(&n).Update("text", "bye").Error }, false},
		{"row", func() error { var c int; return tx.Raw("SELECT count(*) FROM notes").Row().Scan(&c) }, false},
		{"raw", func() error { return tx.Exec("SELECT 1").Error }, false},
		{"raw", func() error { return tx.Exec("SELECT * FROM missing_table").Error }, true},
		{"delete", func() error { return tx.Delete(&n).Error }, false},
	}
	for _, s := range steps {
		if err := s.run(); err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !s.wantErr {
			t.Fatalf("%s: %v", s.operation, err)
		}
	}
	server.Finish()

	spans := rec.Spans()
	if len(spans) != len(steps)+1 {
		t.Fatalf("%d spans, want %d", len(spans), len(steps)+1)
	}
	op := spans[len(spans)-1]
	for i, s := range steps {
		sp := spans[i]
		if sp.Operation != "gorm.query" || sp.ParentID != op.SpanID || sp.TraceID != op.TraceID {
			t.Errorf("step %d: span %q parent %s, want gorm.query under %s", i, sp.Operation, sp.ParentID, op.SpanID)
		}
		if sp.Tags["db.operation"] != s.operation || sp.Tags["db.system"] != "sqlite" {
			t.Errorf("step %d: tags %v", i, sp.Tags)
		}
		if stmt, _ := sp.Tags["db.statement"].(string); stmt == "" || strings.Contains(stmt, "hello") {
			t.Errorf("step %d: db.statement %q, want the SQL without values", i, stmt)
		}
		if (sp.Tags["error"] == true) != s.wantErr {
			t.Errorf("step %d (%s): error tag %v, want %v", i, sp.Tags["db.statement"], sp.Tags["error"], s.wantErr)
		}
	}
}

func TestGormOutsideATracedCallMakesNoSpans(t *testing.T) {
	rec := NewRecorder()
	db := tracedDB(t, rec)
	if err := db.Exec("SELECT 1").Error; err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Spans()); n != 0 {
		t.Errorf("%d orphan spans", n)
	}
}

func TestGormWithTracingOff(t *testing.T) {
	db := tracedDB(t, Noop())
	if err := db.Create(&note{Text: "x"}).Error; err != nil {
		t.Fatal(err)
	}
}
