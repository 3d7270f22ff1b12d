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
