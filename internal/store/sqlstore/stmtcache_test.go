package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The SQLite connections' statement cache and write queue (sqlstore.go): a query
// whose text is already running on the same connection (in a transaction, while its
// rows are read) runs unprepared beside it; more texts than the cache holds evict the
// oldest, even while their rows are open; a failed statement leaves the connection
// usable; concurrent writers queue and all succeed; a writer waits for an open
// transaction and goes on once it commits.
func TestSQLiteStmtCacheAndWriteQueue(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	ctx := context.Background()
	db := s.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const q = `SELECT k, v FROM kv WHERE k >= $1 ORDER BY k`
	outer, err := tx.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for outer.Next() {
		var k int
		var v string
		if err := outer.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, q, k) // the same text, its statement busy
		if err != nil {
			t.Fatal(err)
		}
		m := 0
		for inner.Next() {
			m++
		}
		inner.Close()
		if m != 10-k {
			t.Fatalf("inner query for %d: %d rows", k, m)
		}
		for j := range 200 { // more texts than the cache holds
			var x int
			if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + k FROM kv WHERE k = $1`, j), k).Scan(&x); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE kv SET v = $1 WHERE k = $2`, "u", k); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if n != 10 {
		t.Fatalf("outer query: %d rows", n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	rows, err := db.QueryContext(ctx, q, 5)
	if err != nil {
		t.Fatal(err)
	}
	m := 0
	for rows.Next() {
		m++
	}
	rows.Close()
	if m != 5 {
		t.Fatalf("after the transaction: %d rows", m)
	}

	if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, 1, "dup"); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, 100, "ok"); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			_, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2) RETURNING k`, 1000+i, "c")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, `UPDATE kv SET v = 'w' WHERE k = 100`)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a write ran beside an open transaction: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
