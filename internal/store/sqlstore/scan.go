package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/store"
)

// ts encodes a time as microseconds since the epoch, and the zero time as NULL.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// tsScan decodes what ts wrote.
type tsScan struct{ t *time.Time }

// scanTime returns a Scanner that fills *t.
func scanTime(t *time.Time) tsScan { return tsScan{t} }

func (s tsScan) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		*s.t = time.UnixMicro(x).UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// list stores a string slice as JSON text; nil and empty both read back as empty.
type list []string

func (l list) Value() (driver.Value, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// scanList returns a Scanner that fills *l.
func scanList(l *[]string) listScan { return listScan{l} }

type listScan struct{ l *[]string }

func (s listScan) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		*s.l = []string{}
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("list column: unexpected %T", v)
	}
	out := []string{}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	*s.l = out
	return nil
}

// pageClause returns " LIMIT n OFFSET m" for p, or "" for everything.
func pageClause(p store.Page) string {
	if p.Size <= 0 {
		return ""
	}
	n := p.Number
	if n < 1 {
		n = 1
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", p.Size, (n-1)*p.Size)
}

// where builds a WHERE clause from conditions added in order; each condition uses
// one placeholder written as "?" that becomes $n.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1))
}

// addRaw adds a condition without an argument.
func (w *where) addRaw(cond string) { w.conds = append(w.conds, cond) }

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// nullString stores "" as NULL, for optional foreign keys.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// deleted returns how many rows a DELETE (or an UPDATE) touched.
func deleted(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
