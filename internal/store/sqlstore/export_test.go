package sqlstore

import "github.com/vcsauth/vcsauth/internal/store"

// For the query plan checks in usable_bench_test.go.
const (
	UsableConnsQuery   = upUsableConns
	AvailableToUserSQL = upAvailableToUser
	ClientColsSQL      = upClientCols
)

// TokenWhere and ConnWhere are the filters' conditions, for the plan checks.
func TokenWhere(f store.TokenFilter) (string, []any) {
	w := identTokenWhere(f)
	return w.String(), w.args
}

func ConnWhere(f store.ConnectionFilter) (string, []any, error) {
	w, err := upConnWhere(f)
	if err != nil {
		return "", nil, err
	}
	return w.String(), w.args, nil
}

const SlugImplied = upSlugImplied

// Column lists written twice, bare and qualified by a join's alias.
var ColumnListPairs = []struct{ Alias, Bare, Qualified string }{
	{"t", identTokenCols, identTokenColsT},
	{"u", identUserCols, identUserColsU},
	{"c", upConnCols, upConnColsC},
}

// Listening reports whether s hears other replicas' changes, and the backend
// process id of the connection it listens on.
func Listening(s *Store) (bool, int32) {
	if s.listener == nil {
		return false, 0
	}
	return s.listener.up.Load(), s.listener.pid.Load()
}
