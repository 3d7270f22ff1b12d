package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// usablePlan returns the query plan of q with args, one line per step. On PostgreSQL
// with noSeq, sequential scans are switched off for it, to show what indexes the plan
// falls back on once the small tables (memberships, projects) grow.
func usablePlan(t *testing.T, db *sql.DB, dialect string, noSeq bool, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	prefix := "EXPLAIN "
	if dialect == "sqlite" {
		prefix = "EXPLAIN QUERY PLAN "
	} else if noSeq {
		if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, `RESET enable_seqscan`)
	}
	rows, err := conn.QueryContext(ctx, prefix+q, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestUsablePlans checks that every branch of the credential lookup and of
// AvailableToUser is served by an index on both backends, with the crowded
// organization seeded, and logs the plans (go test -v -run TestUsablePlans).
func TestUsablePlans(t *testing.T) {
	for _, dialect := range identDialects {
		t.Run(dialect, func(t *testing.T) {
			s := usableOpen(t, dialect)
			usableSeed(t, s)
			for _, q := range []struct {
				name, sql string
				want      []string // indexes the plan must use
			}{
				{"UsableConnections", sqlstore.UsableConnsQuery,
					[]string{"connections_own", "connections_shared", "memberships_user"}},
				{"ListOAuthClients AvailableToUser", `SELECT ` + sqlstore.ClientColsSQL + ` FROM oauth_clients c WHERE ` +
					strings.ReplaceAll(sqlstore.AvailableToUserSQL, "?", "$1") + ` ORDER BY c.created_at, c.id`,
					[]string{"oauth_clients_org", "oauth_client_projects_project", "memberships_user"}},
			} {
				plan := usablePlan(t, s.DB(), dialect, false, q.sql, "user-asker")
				t.Logf("%s plan:\n%s", q.name, plan)
				for _, line := range strings.Split(plan, "\n") {
					line = strings.TrimSpace(line)
					// A full pass over a table: "SCAN t" without an index on SQLite
					// ("SCAN u" is the UNION's own result); on PostgreSQL a Seq Scan of
					// one of the tables that grow with the instance. (PostgreSQL reads
					// the seeded memberships, 101 rows, and projects, 1, whole: a page
					// or two is cheaper than an index.)
					full := strings.Contains(line, "Seq Scan on connections") ||
						strings.Contains(line, "Seq Scan on oauth_clients") ||
						(strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, " USING ") && line != "SCAN u")
					if full {
						t.Errorf("%s: full scan: %s", q.name, line)
					}
				}
				if dialect == "postgres" {
					plan = usablePlan(t, s.DB(), dialect, true, q.sql, "user-asker")
					t.Logf("%s plan, enable_seqscan = off:\n%s", q.name, plan)
					if strings.Contains(plan, "Seq Scan") {
						t.Errorf("%s: a branch has no index", q.name)
					}
				}
				for _, idx := range q.want {
					if !strings.Contains(plan, idx) {
						t.Errorf("%s: plan does not use %s", q.name, idx)
					}
				}
			}
		})
	}
}

// TestPartialIndexPlans: lookups by a column that only a partial index covers
// restate the index's condition, so that the index serves them with the value
// unknown (a prepared statement, PostgreSQL's generic plan); without it each was a
// full scan, and on SQLite a statement prepared again on every run.
func TestPartialIndexPlans(t *testing.T) {
	tokens, tokenArgs := sqlstore.TokenWhere(store.TokenFilter{FamilyID: "fam"})
	conns, connArgs, err := sqlstore.ConnWhere(store.ConnectionFilter{OwnerKind: core.OwnerUser, OwnerUserID: "user-asker"})
	if err != nil {
		t.Fatal(err)
	}
	shared, sharedArgs, err := sqlstore.ConnWhere(store.ConnectionFilter{OwnerKind: core.OwnerOrg, OwnerOrgID: "org-00"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sqlstore.ConnWhere(store.ConnectionFilter{OwnerKind: "team"}); err == nil {
		t.Error("an unknown owner kind made a condition")
	}
	for _, dialect := range identDialects {
		t.Run(dialect, func(t *testing.T) {
			s := usableOpen(t, dialect)
			usableSeed(t, s)
			for _, q := range []struct {
				name, sql, index string
				args             []any
			}{
				{"tokens by family", `SELECT id FROM tokens` + tokens, "tokens_family", tokenArgs},
				{"client by slug", `SELECT c.id FROM oauth_clients c WHERE c.slug = $1` + sqlstore.SlugImplied, "oauth_clients_slug", []any{"gitlab"}},
				{"a person's connections", `SELECT id FROM connections` + conns + ` ORDER BY created_at, id`, "connections_own", connArgs},
				// SQLite cannot prove owner_kind = 'organization' implies connections_shared's
				// owner_kind <> 'user'; its full index on owner_org_id serves.
				{"an organization's connections", `SELECT id FROM connections` + shared + ` ORDER BY created_at, id`, "connections_shared|connections_owner_org", sharedArgs},
			} {
				// With sequential scans off on PostgreSQL: its tables here are small
				// enough that a scan would win, which says nothing about the index.
				plan := usablePlan(t, s.DB(), dialect, true, q.sql, q.args...)
				t.Logf("%s plan:\n%s", q.name, plan)
				if !slices.ContainsFunc(strings.Split(q.index, "|"), func(i string) bool { return strings.Contains(plan, i) }) {
					t.Errorf("%s: plan does not use %s:\n%s", q.name, q.index, plan)
				}
			}
		})
	}
}
