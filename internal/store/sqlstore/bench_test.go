package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

const identBenchTokens = 10000

// identBenchHash is the hash of the i-th seeded token.
func identBenchHash(i int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	h := sha256.Sum256(b[:])
	return h[:]
}

// identSeedTokens stores a user and identBenchTokens personal tokens of theirs, in one
// transaction of raw inserts so seeding does not dominate the run.
func identSeedTokens(b *testing.B, s *sqlstore.Store) {
	b.Helper()
	ctx := context.Background()
	if err := s.CreateUser(ctx, core.User{ID: "user-bench", Username: "bench", PasswordHash: "$argon2id$x",
		CreatedAt: identNow, UpdatedAt: identNow}); err != nil {
		b.Fatal(err)
	}
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO tokens (kind, hash, last_eight, user_id, scopes, created_at, updated_at)
		VALUES ('personal', $1, 'abcdefgh', 'user-bench', '["api"]', $2, $2)`)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	for i := range identBenchTokens {
		if _, err := stmt.ExecContext(ctx, identBenchHash(i), identNow.UnixMicro()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLookupToken measures the query every authenticated request makes, against
// 10,000 stored tokens. "baseline" is the cheapest one-row query there is (a user by
// primary key) on the same pool in the same run: LookupToken's figure is best read as
// a ratio to it.
func BenchmarkLookupToken(b *testing.B) {
	for _, dialect := range identDialects {
		b.Run(dialect, func(b *testing.B) {
			var s *sqlstore.Store
			if dialect == "sqlite" {
				s = openSQLite(b)
			} else {
				s = freshPostgres(b, true)
			}
			identSeedTokens(b, s)
			ctx := context.Background()
			b.Run("baseline", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					var id string
					if err := s.DB().QueryRowContext(ctx, `SELECT id FROM users WHERE id = $1`, "user-bench").Scan(&id); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("LookupToken", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					tok, _, err := s.LookupToken(ctx, identBenchHash(i%identBenchTokens))
					if err != nil || tok.UserID != "user-bench" {
						b.Fatal(tok, err)
					}
					i++
				}
			})
		})
	}
}
