package dao_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/megaview/mgvcore/internal/breaker"
	"github.com/megaview/mgvcore/internal/dao/daotest"
)

// oneConn is a fresh MariaDB database whose pool has one connection, so a
// test sees whether a statement cost it its connection, with a table kept
// (a INT).
func oneConn(t *testing.T) (*gorm.DB, *sql.DB) {
	t.Helper()
	db := daotest.OpenMariaDB(t, daotest.Unmigrated)
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(1)
	if err := db.Exec("CREATE TABLE kept (a INT)").Error; err != nil {
		t.Fatal(err)
	}
	return db, sqlDB
}

func connectionID(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var id int64
	if err := db.Raw("SELECT CONNECTION_ID()").Scan(&id).Error; err != nil {
		t.Fatal(err)
	}
	return id
}

// endsAtItsBound checks that err is the server ending a statement at its
// time bound (1969 ER_STATEMENT_TIMEOUT), before the deadline of 1s from
// start.
func endsAtItsBound(t *testing.T, err error, start time.Time) {
	t.Helper()
	took := time.Since(start)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1969 {
		t.Fatalf("after %s: %v, want MariaDB's 1969 ER_STATEMENT_TIMEOUT", took, err)
	}
	if took < 700*time.Millisecond || took >= time.Second {
		t.Errorf("ended after %s, want shortly before the deadline of 1s", took)
	}
}

func withSecond(t *testing.T) (context.Context, time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	t.Cleanup(cancel)
	return ctx, time.Now()
}

// A statement that would run long ends on the server at its context's
// deadline, with the server's own error, and the connection stays in use:
// the driver did not have to close it to give up.
func TestStatementsEndOnTheServerAtTheirDeadlineOnMariaDB(t *testing.T) {
	db, _ := oneConn(t)
	id := connectionID(t, db)

	ctx, start := withSecond(t)
	endsAtItsBound(t, db.WithContext(ctx).Exec("SELECT SLEEP(5)").Error, start)

	// A scan: a join of 2·10⁹ row pairs that takes minutes.
	ctx, start = withSecond(t)
	var n int64
	err := db.WithContext(ctx).Raw("SELECT COUNT(*) FROM seq_1_to_50000 a JOIN seq_1_to_50000 b ON (a.seq * b.seq) % 7 = ?", 3).Scan(&n).Error
	endsAtItsBound(t, err, start)

	if got := connectionID(t, db); got != id {
		t.Errorf("connection %d after the timeouts, was %d: the driver closed it", got, id)
	}
	// Without a deadline a statement is not bounded.
	var slept int
	if err := db.Raw("SELECT SLEEP(1.2)").Scan(&slept).Error; err != nil || slept != 0 {
		t.Errorf("an unbounded sleep of 1.2s: %d, %v", slept, err)
	}
}

// In a transaction the server ends the statement, not the transaction: it
// goes on, and commits what it wrote.
func TestBoundedStatementInTransactionOnMariaDB(t *testing.T) {
	db, _ := oneConn(t)
	ctx, start := withSecond(t)
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("INSERT INTO kept VALUES (1)").Error; err != nil {
			return err
		}
		endsAtItsBound(t, tx.Exec("INSERT INTO kept SELECT SLEEP(5)").Error, start)
		return tx.Exec("INSERT INTO kept VALUES (2)").Error
	})
	if err != nil {
		t.Fatalf("the transaction after its statement's timeout: %v", err)
	}
	var sum int64
	if err := db.Raw("SELECT SUM(a) FROM kept").Scan(&sum).Error; err != nil || sum != 3 {
		t.Errorf("committed %d (%v), want the rows 1 and 2", sum, err)
	}
}

// A server-side prepared statement (the transcript parts' and the audit
// log's inserts) is bounded by the deadline of each call that runs it, not
// by that of the call it was first prepared for.
func TestBoundedPreparedStatementOnMariaDB(t *testing.T) {
	db, sqlDB := oneConn(t)
	id := connectionID(t, db)
	first, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	stmt, err := sqlDB.PrepareContext(first, "INSERT INTO kept SELECT SLEEP(?)")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stmt.Close() }()
	if _, err := stmt.ExecContext(first, 0); err != nil {
		t.Fatal(err)
	}
	ctx, start := withSecond(t)
	_, err = stmt.ExecContext(ctx, 5)
	endsAtItsBound(t, err, start)
	// Unbounded, past the deadlines of both calls before.
	time.Sleep(time.Until(start.Add(time.Second)))
	if _, err := stmt.ExecContext(context.Background(), 1.2); err != nil {
		t.Errorf("an unbounded call of the statement: %v", err)
	}
	tx, err := sqlDB.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, start = withSecond(t)
	_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, 5)
	endsAtItsBound(t, err, start)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := connectionID(t, db); got != id {
		t.Errorf("connection %d after the timeouts, was %d: the driver closed it", got, id)
	}
}

// A database that does not answer at all still ends at the context's
// deadline, and that is the database failing, for its breaker: here the
// connection goes through a proxy that stops passing anything on.
func TestSilentDatabaseEndsAtTheDeadlineOnMariaDB(t *testing.T) {
	cfg := daotest.ScratchMariaDBConfig(t)
	p := newFreezingProxy(t, cfg.Addr)
	cfg.Addr = p.addr
	db := daotest.Connect(t, "mysql", cfg.FormatDSN(), daotest.Unmigrated)
	if err := db.Exec("SELECT 1").Error; err != nil {
		t.Fatal(err)
	}
	p.freeze()
	ctx, start := withSecond(t)
	err := db.WithContext(ctx).Exec("SELECT 1").Error
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took < time.Second || took > 2*time.Second {
		t.Fatalf("a silent database answered %v after %s, want the context's deadline at 1s", err, took)
	}
	if got := breaker.ClassifyDB(ctx, err); got != breaker.Failure {
		t.Errorf("no answer by the deadline classified %s, want failure", got)
	}
}

// freezingProxy passes TCP connections to a server until frozen, then
// passes nothing more, as a hung server or network would.
type freezingProxy struct {
	addr   string
	frozen chan struct{}

	mu    sync.Mutex
	conns []net.Conn // closed with the test
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{addr: l.Addr().String(), frozen: make(chan struct{})}
	t.Cleanup(func() {
		_ = l.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	go func() {
		for in, err := l.Accept(); err == nil; in, err = l.Accept() {
			go p.serve(in, target)
		}
	}()
	return p
}

// serve passes in to a connection of its own to target, both ways.
func (p *freezingProxy) serve(in net.Conn, target string) {
	out, err := net.Dial("tcp", target)
	p.mu.Lock()
	p.conns = append(p.conns, in)
	if err == nil {
		p.conns = append(p.conns, out)
	}
	p.mu.Unlock()
	if err != nil {
		_ = in.Close()
		return
	}
	go p.pass(out, in)
	p.pass(in, out)
}

func (p *freezingProxy) freeze() { close(p.frozen) }

// pass copies from src to dst until frozen; then it reads on and drops.
func (p *freezingProxy) pass(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.frozen:
		default:
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
