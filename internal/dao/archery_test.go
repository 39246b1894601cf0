package dao_test

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
	"github.com/pingcap/tidb/pkg/parser/types"

	"github.com/megaview/mgvcore/internal/dao"
)

// The MySQL DDL is reviewed in Archery, whose goInception audits each
// statement. audit applies the same rules, named as goInception names its
// settings, to SQL parsed by the parser goInception is built on (TiDB's):
// the review defaults, and these limits of its documentation:
// max_key_parts 3, max_primary_key_parts 3.
const (
	maxKeyParts        = 3
	maxPrimaryKeyParts = 3
)

// relaxedRules are the rules the README's Archery section asks reviewers
// to enable, each with its reason; the printed DDL breaks no other.
var relaxedRules = []string{"enable_blob_type"}

type finding struct{ rule, where string }

func (f finding) String() string { return f.rule + ": " + f.where }

var identRe = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// audit lists what goInception's rules find in sql, a script of statements.
func audit(sql string) ([]finding, error) {
	stmts, _, err := parser.New().Parse(sql, "", "")
	if err != nil {
		return nil, err
	}
	var out []finding
	add := func(rule, format string, args ...any) {
		out = append(out, finding{rule, fmt.Sprintf(format, args...)})
	}
	ident := func(name string) {
		if !identRe.MatchString(name) {
			add("check_identifier", "%q", name)
		}
	}
	altered := map[string]bool{}
	for _, stmt := range stmts {
		switch s := stmt.(type) {
		case *ast.CreateTableStmt:
			table := s.Table.Name.O
			ident(table)
			hasComment, hasPK := false, false
			for _, o := range s.Options {
				tableOption(add, table, o, &hasComment)
			}
			if !hasComment {
				add("check_table_comment", "table %s", table)
			}
			for _, c := range s.Cols {
				column(add, table, c)
				for _, o := range c.Options {
					hasPK = hasPK || o.Tp == ast.ColumnOptionPrimaryKey
				}
			}
			for _, c := range s.Constraints {
				hasPK = hasPK || c.Tp == ast.ConstraintPrimaryKey
				index(add, table, c.Tp, c.Name, len(c.Keys))
			}
			if !hasPK {
				add("check_primary_key", "table %s", table)
			}
			if s.Partition != nil {
				add("enable_partition_table", "table %s", table)
			}
		case *ast.AlterTableStmt:
			table := s.Table.Name.O
			if altered[table] {
				add("merge_alter_table", "table %s is altered by more than one statement", table)
			}
			altered[table] = true
			for _, spec := range s.Specs {
				switch spec.Tp {
				case ast.AlterTableOption:
					hasComment := false
					for _, o := range spec.Options {
						tableOption(add, table, o, &hasComment)
					}
				case ast.AlterTableAddColumns, ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
					for _, c := range spec.NewColumns {
						column(add, table, c)
					}
				case ast.AlterTableAddConstraint:
					index(add, table, spec.Constraint.Tp, spec.Constraint.Name, len(spec.Constraint.Keys))
				case ast.AlterTableDropIndex, ast.AlterTableRenameIndex:
				default:
					add("alter", "table %s: %s is not a change this schema reviews", table, restore(spec))
				}
			}
		case *ast.CreateIndexStmt:
			tp := ast.ConstraintIndex
			if s.KeyType == ast.IndexKeyTypeUnique {
				tp = ast.ConstraintUniq
			}
			index(add, s.Table.Name.O, tp, s.IndexName, len(s.IndexPartSpecifications))
		case *ast.DropTableStmt:
			add("enable_drop_table", "%s", restore(s))
		case *ast.DropDatabaseStmt:
			add("enable_drop_database", "%s", restore(s))
		case *ast.SetStmt:
			add("set", "goInception runs no SET statement but SET NAMES: %s", restore(s))
		case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt:
			add("ddl_dml_coexist", "DML in the reviewed DDL: %s", restore(s))
		default:
			add("statement", "not reviewable here: %s", restore(s))
		}
	}
	return out, nil
}

type adder func(rule, format string, args ...any)

func tableOption(add adder, table string, o *ast.TableOption, hasComment *bool) {
	switch o.Tp {
	case ast.TableOptionEngine:
		if !strings.EqualFold(o.StrValue, "innodb") {
			add("support_engine", "table %s: engine %s", table, o.StrValue)
		}
	case ast.TableOptionCharset:
		add("enable_set_charset", "table %s: CHARSET %s", table, o.StrValue)
	case ast.TableOptionCollate:
		add("enable_set_collation", "table %s: COLLATE %s", table, o.StrValue)
	case ast.TableOptionComment:
		*hasComment = *hasComment || o.StrValue != ""
	case ast.TableOptionAutoIncrement:
		if o.UintValue > 1 {
			add("check_autoincrement_init_value", "table %s: AUTO_INCREMENT=%d", table, o.UintValue)
		}
	}
}

func column(add adder, table string, c *ast.ColumnDef) {
	name := c.Name.Name.O
	where := table + "." + name
	if !identRe.MatchString(name) {
		add("check_identifier", "%q", where)
	}
	tp := c.Tp.GetType()
	blob := types.IsTypeBlob(tp)
	var comment, dflt, notNull, autoInc bool
	for _, o := range c.Options {
		switch o.Tp {
		case ast.ColumnOptionComment:
			if v, ok := o.Expr.(interface{ GetString() string }); ok && v.GetString() != "" {
				comment = true
			}
		case ast.ColumnOptionDefaultValue:
			dflt = true
		case ast.ColumnOptionNotNull:
			notNull = true
		case ast.ColumnOptionAutoIncrement:
			autoInc = true
		case ast.ColumnOptionCollate:
			add("enable_column_charset", "%s: COLLATE", where)
		case ast.ColumnOptionReference:
			add("enable_foreign_key", "%s", where)
		}
	}
	// The parser gives binary types (VARBINARY, BLOB) the charset and
	// collation "binary"; goInception names no character set for them.
	if cs, co := c.Tp.GetCharset(), c.Tp.GetCollate(); cs != "" && cs != "binary" || cs == "" && co != "" && co != "binary" {
		add("enable_column_charset", "%s: CHARACTER SET", where)
	}
	if !comment {
		add("check_column_comment", "%s", where)
	}
	switch {
	case blob:
		add("enable_blob_type", "%s is %s", where, types.TypeToStr(tp, c.Tp.GetCharset()))
		if notNull {
			add("text_not_nullable", "%s is TEXT/BLOB NOT NULL", where)
		}
		if dflt {
			add("blob_cant_have_default", "%s", where)
		}
	case tp == mysql.TypeJSON:
		add("enable_json_type", "%s is JSON", where)
	case tp == mysql.TypeEnum || tp == mysql.TypeSet || tp == mysql.TypeBit:
		add("enable_enum_set_bit", "%s", where)
	case !dflt && !autoInc:
		add("check_column_default_value", "%s has no DEFAULT", where)
	}
	if autoInc {
		if !mysql.HasUnsignedFlag(c.Tp.GetFlag()) {
			add("enable_autoincrement_unsigned", "%s is AUTO_INCREMENT but signed", where)
		}
		if tp != mysql.TypeLong && tp != mysql.TypeLonglong && tp != mysql.TypeInt24 {
			add("check_autoincrement_datatype", "%s", where)
		}
		if name != "id" {
			add("check_autoincrement_name", "%s", where)
		}
	}
}

func index(add adder, table string, tp ast.ConstraintType, name string, parts int) {
	where := table + "." + name
	switch tp {
	case ast.ConstraintPrimaryKey:
		if parts > maxPrimaryKeyParts {
			add("max_primary_key_parts", "table %s: %d columns", table, parts)
		}
		return
	case ast.ConstraintForeignKey:
		add("enable_foreign_key", "%s", where)
		return
	case ast.ConstraintCheck:
		return
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
		if !strings.HasPrefix(name, "uniq_") {
			add("check_index_prefix", "unique index %s is not named uniq_", where)
		}
	default:
		if !strings.HasPrefix(name, "idx_") {
			add("check_index_prefix", "index %s is not named idx_", where)
		}
	}
	if name == "" {
		add("enable_null_index_name", "table %s: an index without a name", table)
	}
	if parts > maxKeyParts {
		add("max_key_parts", "%s: %d columns", where, parts)
	}
}

func restore(n ast.Node) string {
	var b strings.Builder
	if err := n.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &b)); err != nil {
		return fmt.Sprintf("%T", n)
	}
	return b.String()
}

// strict drops the findings of the relaxed rules.
func strict(fs []finding) []finding {
	return slices.DeleteFunc(fs, func(f finding) bool { return slices.Contains(relaxedRules, f.rule) })
}

// The DDL of a new install, as `migrate print --dialect mysql` writes it,
// and the upgrade of a database at migration 0005 (what `migrate print`
// shows its operators) pass the review, but for the relaxed rules.
func TestPrintedMySQLDDLPassesReview(t *testing.T) {
	var out bytes.Buffer
	n, err := dao.PrintSchema(&out, "mysql")
	if err != nil || n == 0 {
		t.Fatalf("print: %d migrations, %v", n, err)
	}
	all, err := dao.Migrations("mysql")
	if err != nil {
		t.Fatal(err)
	}
	scripts := map[string]string{"new install": out.String()}
	for _, mig := range all {
		if mig.Version >= 6 {
			scripts[mig.Name] = mig.SQL
		}
	}
	for name, sql := range scripts {
		fs, err := audit(sql)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, f := range strict(fs) {
			t.Errorf("%s: %s", name, f)
		}
	}
	// Each relaxed rule is named, with its reason, in the README.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range relaxedRules {
		if !bytes.Contains(readme, []byte("`"+r+"`")) {
			t.Errorf("the README does not name the relaxed rule %s", r)
		}
	}
}

// The audit finds what goInception finds.
func TestAuditFindsBadDDL(t *testing.T) {
	const good = "CREATE TABLE t (\n" +
		"  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'id',\n" +
		"  a  VARCHAR(8) NOT NULL DEFAULT '' COMMENT 'a',\n" +
		"  PRIMARY KEY (id),\n" +
		"  UNIQUE KEY uniq_t_a (a)\n" +
		") ENGINE=InnoDB COMMENT='t'"
	cases := []struct{ sql, rule string }{
		{good, ""},
		{strings.Replace(good, " COMMENT='t'", "", 1), "check_table_comment"},
		{strings.Replace(good, " COMMENT 'a'", "", 1), "check_column_comment"},
		{strings.Replace(good, " DEFAULT ''", "", 1), "check_column_default_value"},
		{strings.Replace(good, "BIGINT UNSIGNED", "BIGINT", 1), "enable_autoincrement_unsigned"},
		{strings.Replace(good, "uniq_t_a", "uk_t_a", 1), "check_index_prefix"},
		{strings.Replace(good, "UNIQUE KEY uniq_t_a (a)", "KEY t_a (a)", 1), "check_index_prefix"},
		{strings.Replace(good, "UNIQUE KEY uniq_t_a (a)", "KEY idx_t_a (a, id, a, id)", 1), "max_key_parts"},
		{strings.Replace(good, "VARCHAR(8) NOT NULL DEFAULT ''", "TEXT NOT NULL", 1), "text_not_nullable"},
		{strings.Replace(good, "VARCHAR(8) NOT NULL DEFAULT ''", "JSON NULL", 1), "enable_json_type"},
		{strings.Replace(good, "VARCHAR(8) NOT NULL DEFAULT ''", "TEXT NULL", 1), "enable_blob_type"},
		{strings.Replace(good, "ENGINE=InnoDB", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", 1), "enable_set_charset"},
		{strings.Replace(good, "ENGINE=InnoDB", "ENGINE=InnoDB COLLATE=utf8mb4_bin", 1), "enable_set_collation"},
		{strings.Replace(good, "ENGINE=InnoDB", "ENGINE=MyISAM", 1), "support_engine"},
		{strings.Replace(good, "VARCHAR(8)", "VARBINARY(32)", 1), ""},
		{strings.Replace(good, "VARCHAR(8)", "VARCHAR(8) CHARACTER SET latin1", 1), "enable_column_charset"},
		{strings.Replace(good, "VARCHAR(8)", "VARCHAR(8) COLLATE utf8mb4_bin", 1), "enable_column_charset"},
		{strings.Replace(good, "  PRIMARY KEY (id),\n", "", 1), "check_primary_key"},
		{"SET SESSION group_concat_max_len = 1024", "set"},
		{"DROP TABLE sentences", "enable_drop_table"},
		{"INSERT INTO t (a) VALUES ('x')", "ddl_dml_coexist"},
		{"ALTER TABLE t ADD COLUMN b INT NOT NULL DEFAULT 0 COMMENT 'b';\nALTER TABLE t ADD KEY idx_t_b (b)", "merge_alter_table"},
		{"ALTER TABLE t MODIFY COLUMN a VARCHAR(8) NOT NULL DEFAULT ''", "check_column_comment"},
		{"CREATE INDEX uk_t_a ON t (a)", "check_index_prefix"},
	}
	for _, c := range cases {
		fs, err := audit(c.sql)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		var rules []string
		for _, f := range fs {
			rules = append(rules, f.rule)
		}
		if c.rule == "" && len(fs) > 0 || c.rule != "" && !slices.Contains(rules, c.rule) {
			t.Errorf("%s\nfound %v, want %q", c.sql, fs, c.rule)
		}
	}
}
