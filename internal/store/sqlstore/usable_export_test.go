package sqlstore

// For the query plan checks in usable_bench_test.go.
const (
	UsableConnsQuery   = upUsableConns
	AvailableToUserSQL = upAvailableToUser
	ClientColsSQL      = upClientCols
)
