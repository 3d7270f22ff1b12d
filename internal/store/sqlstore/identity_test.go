package sqlstore_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// Tests of the Identity group that need more than one store.Store: two handles on one
// database (replicas), the raw columns, upgrades. Helpers carry an "ident" prefix.

var identDialects = []string{"sqlite", "postgres"}

// identReplicas opens two stores on one migrated database, as two replicas would.
func identReplicas(t testing.TB, dialect string) (*sqlstore.Store, *sqlstore.Store) {
	t.Helper()
	u := freshURL(t, dialect)
	return openURL(t, u, sqlstore.Options{Migrate: true}), openURL(t, u, sqlstore.Options{})
}

var identNow = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// Login throttling holds across replicas: what one records, the other counts, and
// a burst spread over both is still counted one failure at a time.
func TestIdentityLoginFailuresAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, dialect := range identDialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			a, b := identReplicas(t, dialect)
			ctx := t.Context()
			const window = 10 * time.Minute
			for i, s := range []*sqlstore.Store{a, b, a, b} {
				n, err := s.RecordLoginFailure(ctx, "alice", identNow.Add(time.Duration(i)*time.Minute), window)
				if err != nil {
					t.Fatal(err)
				}
				if n != i+1 {
					t.Errorf("failure %d counted %d", i+1, n)
				}
			}
			for _, s := range []*sqlstore.Store{a, b} {
				if n, err := s.LoginFailures(ctx, "alice", identNow.Add(window), window); err != nil || n != 4 {
					t.Errorf("LoginFailures: %d, %v; want 4", n, err)
				}
				// Past the window of the first two.
				if n, err := s.LoginFailures(ctx, "alice", identNow.Add(window+90*time.Second), window); err != nil || n != 2 {
					t.Errorf("LoginFailures later: %d, %v; want 2", n, err)
				}
			}
			if err := b.ClearLoginFailures(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			if n, err := a.LoginFailures(ctx, "alice", identNow, window); err != nil || n != 0 {
				t.Errorf("after Clear on the other replica: %d, %v", n, err)
			}

			const burst = 30
			counts := make(chan int, burst)
			var wg sync.WaitGroup
			for i := range burst {
				s := []*sqlstore.Store{a, b}[i%2]
				wg.Go(func() {
					n, err := s.RecordLoginFailure(ctx, "bob", identNow, window)
					if err != nil {
						t.Error(err)
					}
					counts <- n
				})
			}
			wg.Wait()
			close(counts)
			var got []int
			for n := range counts {
				got = append(got, n)
			}
			slices.Sort(got)
			for i, n := range got {
				if n != i+1 {
					t.Fatalf("counts %v, want 1…%d each once", got, burst)
				}
			}
		})
	}
}

// Read-modify-writes from two replicas lose no update either.
func TestIdentityUpdateAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, dialect := range identDialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			a, b := identReplicas(t, dialect)
			ctx := t.Context()
			u := core.User{ID: "user-r", Username: "r", CreatedAt: identNow, UpdatedAt: identNow}
			if err := a.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			const n = 40
			var wg sync.WaitGroup
			for i := range n {
				s := []*sqlstore.Store{a, b}[i%2]
				wg.Go(func() {
					_, err := s.UpdateUser(ctx, u.ID, func(u core.User) (core.User, error) {
						u.Email += "x"
						return u, nil
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			got, err := b.User(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Email != strings.Repeat("x", n) {
				t.Errorf("lost %d of %d updates", n-len(got.Email), n)
			}
		})
	}
}

// The column conventions of sqlstore.go hold: zero times and "no application" are
// NULL, times are microseconds, lists JSON, hashes bytes.
func TestIdentityColumnEncoding(t *testing.T) {
	t.Parallel()
	for _, dialect := range identDialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			s := openURL(t, freshURL(t, dialect), sqlstore.Options{Migrate: true})
			ctx := t.Context()
			created := identNow.Add(123456 * time.Microsecond)
			u := core.User{ID: "user-e", Username: "e", SiteAdmin: true, CreatedAt: created, UpdatedAt: created}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			tok := core.Token{Kind: core.TokenPersonal, Hash: []byte{0, 1, 2, 0xff}, LastEight: "12345678", UserID: u.ID,
				Scopes: []string{"api", "read_user"}, CreatedAt: created, UpdatedAt: created}
			if err := s.CreateToken(ctx, &tok); err != nil {
				t.Fatal(err)
			}
			var (
				pcaNull, appNull, grantNull, expNull bool
				createdAt                            int64
				scopes                               string
				hash                                 []byte
			)
			if err := s.DB().QueryRowContext(ctx, `SELECT password_changed_at IS NULL, created_at FROM users WHERE id = $1`, u.ID).
				Scan(&pcaNull, &createdAt); err != nil {
				t.Fatal(err)
			}
			if !pcaNull || createdAt != created.UnixMicro() {
				t.Errorf("users: password_changed_at NULL %v, created_at %d want %d", pcaNull, createdAt, created.UnixMicro())
			}
			if err := s.DB().QueryRowContext(ctx, `SELECT application_id IS NULL, grant_id IS NULL, expires_at IS NULL, scopes, hash
				FROM tokens WHERE id = $1`, tok.ID).Scan(&appNull, &grantNull, &expNull, &scopes, &hash); err != nil {
				t.Fatal(err)
			}
			if !appNull || !grantNull || !expNull || scopes != `["api","read_user"]` || !slices.Equal(hash, tok.Hash) {
				t.Errorf("tokens: application NULL %v, grant NULL %v, expires NULL %v, scopes %s, hash %x",
					appNull, grantNull, expNull, scopes, hash)
			}
		})
	}
}
