package secret

import (
	"errors"
	"io"
	mrand "math/rand/v2"
	"sync"
)

// detRand is a reproducible random source: ChaCha8 seeded from a string, safe for
// concurrent use.
type detRand struct {
	mu sync.Mutex
	r  *mrand.ChaCha8
}

func newDetRand(seed string) io.Reader {
	var s [32]byte
	copy(s[:], seed)
	return &detRand{r: mrand.NewChaCha8(s)}
}

func (d *detRand) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.r.Read(p)
}

// bytesRand yields the given bytes over and over.
type bytesRand struct {
	b []byte
	i int
}

func (r *bytesRand) Read(p []byte) (int, error) {
	for k := range p {
		p[k] = r.b[r.i%len(r.b)]
		r.i++
	}
	return len(p), nil
}

// failRand always fails.
type failRand struct{}

var errTestRand = errors.New("test: no entropy")

func (failRand) Read([]byte) (int, error) { return 0, errTestRand }

// shortRand returns n bytes, then EOF.
type shortRand struct{ n int }

func (r *shortRand) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p))
	r.n -= k
	return k, nil
}
