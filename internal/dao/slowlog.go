package dao

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rs/zerolog"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/megaview/mgvcore/internal/clip"
)

// slowSQLBytes bounds the statement a slow query line quotes.
const slowSQLBytes = 1000

// slowLinesPerSecond bounds the slow query lines: when the database slows
// down every statement is slow, and the log must not take over.
const slowLinesPerSecond = 10

// LogSlowQueries logs every statement on db that takes at least threshold
// (database.slow_query; 0 or less logs none), at most 10 lines a second.
// A line quotes the statement with its placeholders, never its arguments,
// which hold personal data (names, emails, transcript text).
func LogSlowQueries(db *gorm.DB, threshold time.Duration, log zerolog.Logger) {
	if threshold <= 0 {
		db.Logger = logger.Discard
		return
	}
	db.Logger = slowLog{
		threshold: threshold,
		log: log.With().Str("component", "database").Logger().
			Sample(&zerolog.BurstSampler{Burst: slowLinesPerSecond, Period: time.Second}),
	}
}

// slowLog is a gorm logger that reports slow statements only.
type slowLog struct {
	threshold time.Duration
	log       zerolog.Logger
}

func (l slowLog) LogMode(logger.LogLevel) logger.Interface { return l }

func (slowLog) Info(context.Context, string, ...any)  {}
func (slowLog) Warn(context.Context, string, ...any)  {}
func (slowLog) Error(context.Context, string, ...any) {}

// ParamsFilter leaves the arguments out of the statement gorm hands Trace.
func (slowLog) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (l slowLog) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	took := time.Since(begin)
	if took < l.threshold {
		return
	}
	sql, rows := fc()
	l.log.Warn().Err(withoutValues(err)).Dur("took_ms", took).Dur("slow_query_ms", l.threshold).Int64("rows", rows).
		Str("sql", clip.String(sql, slowSQLBytes)).Msg("slow query")
}

// withoutValues is err as a slow query line may quote it: a MySQL error as
// its number and state only, since its message quotes the value it refused
// ("Incorrect datetime value: 'li.lei@example.test' for column ...").
func withoutValues(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Errorf("mysql error %d (%s)", me.Number, me.SQLState[:])
	}
	return err
}
