package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

const (
	// A person holds one connection of their own through a client, so the crowd is
	// many members with one each.
	usableBenchMembers = 1000 // other members of the crowded organization
	usableBenchEach    = 1    // personal connections each of them holds there
)

// usableSeed builds the harness's crowded organization: one organization, one OAuth
// client, the asker with one connection of their own, one project connection, one
// organization connection, and usableBenchMembers other members holding
// usableBenchEach personal connections each (1,000 in all). It also seeds ten other
// organizations with 100 organization-scoped clients each, none of them the asker's,
// for ListOAuthClients. Raw inserts in one transaction, so seeding stays quick.
func usableSeed(tb testing.TB, s *sqlstore.Store) {
	tb.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	at := identNow.UnixMicro()
	exec := func(q string, args ...any) {
		tb.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	user := func(id string) {
		exec(`INSERT INTO users (id, username, created_at, updated_at) VALUES ($1, $1, $2, $2)`, id, at)
	}
	org := func(id string) {
		exec(`INSERT INTO organizations (id, name, created_at, updated_at) VALUES ($1, $1, $2, $2)`, id, at)
	}
	member := func(org, user string) {
		exec(`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'member', $3)`, org, user, at)
	}
	client := func(id, org string) {
		exec(`INSERT INTO oauth_clients (id, slug, org_id, kind, http_url, api_url, created_at, updated_at)
			VALUES ($1, $1, $2, 'gitlab', 'https://gitlab.example', 'https://gitlab.example/api/v4', $3, $3)`, id, org, at)
	}
	n := 0
	conn := func(client, org, kind, user, project string) {
		n++
		var prj, owning any
		if project != "" {
			prj = project
		}
		if kind == "user" {
			owning = user
		}
		exec(`INSERT INTO connections (id, oauth_client_id, owner_kind, owner_user_id, owning_user_id, owner_org_id,
			owner_project_id, name, credential_kind, access_token, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $1, 'oauth', 'sealed', $8, $8)`,
			fmt.Sprintf("conn-%05d", n), client, kind, user, owning, org, prj, at+int64(n))
	}
	org("org-bench")
	user("user-asker")
	member("org-bench", "user-asker")
	exec(`INSERT INTO projects (id, org_id, name, created_at, updated_at) VALUES ('prj-bench', 'org-bench', 'p', $1, $1)`, at)
	client("oc-bench", "org-bench")
	conn("oc-bench", "org-bench", "user", "user-asker", "")
	conn("oc-bench", "org-bench", "project", "user-asker", "prj-bench")
	conn("oc-bench", "org-bench", "organization", "user-asker", "")
	for i := range usableBenchMembers {
		u := fmt.Sprintf("user-%03d", i)
		user(u)
		member("org-bench", u)
		for range usableBenchEach {
			conn("oc-bench", "org-bench", "user", u, "")
		}
	}
	for i := range 10 {
		o := fmt.Sprintf("org-other-%02d", i)
		org(o)
		for j := range 100 {
			client(fmt.Sprintf("oc-%02d-%03d", i, j), o)
		}
		// Shared connections, projects and a project-scoped client elsewhere, so
		// that the planner sees tables that are not all the asker's.
		for j := range 10 {
			prj := fmt.Sprintf("prj-%02d-%02d", i, j)
			exec(`INSERT INTO projects (id, org_id, name, created_at, updated_at) VALUES ($1, $2, $1, $3, $3)`, prj, o, at)
			exec(`INSERT INTO oauth_client_projects (oauth_client_id, project_id) VALUES ($1, $2)`,
				fmt.Sprintf("oc-%02d-000", i), prj)
			for range 10 {
				conn(fmt.Sprintf("oc-%02d-001", i), o, "project", "user-000", prj)
				conn(fmt.Sprintf("oc-%02d-001", i), o, "organization", "user-000", "")
			}
		}
		exec(`UPDATE oauth_clients SET organization_scoped = $1 WHERE id = $2`, false, fmt.Sprintf("oc-%02d-000", i))
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	// PostgreSQL's autovacuum gathers statistics on its own; SQLite has none unless
	// someone runs ANALYZE, which vcsauth does not, so its plans are checked without.
	if s.Dialect() == "postgres" {
		if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
			tb.Fatal(err)
		}
	}
}

func usableOpen(tb testing.TB, dialect string) *sqlstore.Store {
	if dialect == "sqlite" {
		return openSQLite(tb)
	}
	postgresURL(tb)
	return freshPostgres(tb, true)
}

// BenchmarkUsableConnections is the git credential lookup of a member of an
// organization that holds 1,000 personal connections of other members; the asker may
// use three of them. ListOAuthClientsAvailableToUser is the Coder dialect's list with
// 1,000 clients of other organizations in the instance.
func BenchmarkUsableConnections(b *testing.B) {
	for _, dialect := range identDialects {
		b.Run(dialect, func(b *testing.B) {
			s := usableOpen(b, dialect)
			usableSeed(b, s)
			ctx := context.Background()
			b.Run("UsableConnections", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					got, err := s.UsableConnections(ctx, "user-asker")
					if err != nil || len(got) != 3 {
						b.Fatalf("UsableConnections: %d, %v", len(got), err)
					}
				}
			})
			b.Run("ListOAuthClientsAvailableToUser", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					got, n, err := s.ListOAuthClients(ctx, store.OAuthClientFilter{AvailableToUser: "user-asker"}, store.Page{})
					if err != nil || len(got) != 1 || n != 1 {
						b.Fatalf("ListOAuthClients: %d (%d), %v", len(got), n, err)
					}
				}
			})
		})
	}
}
