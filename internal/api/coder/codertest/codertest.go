// Package codertest runs a whole vcsauth for the Coder dialect's tests, wired as
// `vcsauth serve` wires it (apptest), with nativetest's organization, people and
// helpers (Client, Link, Token, Tokens …) and the Coder dialect's options.
package codertest

import (
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/api/coder"
	"github.com/vcsauth/vcsauth/internal/api/native/nativetest"
	"github.com/vcsauth/vcsauth/internal/app"
	"github.com/vcsauth/vcsauth/internal/connect"
)

// Options configure Start.
type Options struct {
	Dialect string           // "sqlite" (default) or "postgres"
	Now     func() time.Time // the clock (a fake provider's, usually)
	Engine  connect.Options  // ExternalURL and Now are filled in
	Coder   coder.Options
}

// Server is a running vcsauth. Its nativetest.Server fields and helpers describe
// it: URL is this server, Admin administers Org, Alice and Bob are members,
// Outsider belongs to another organization; closing Draining makes long polls
// answer at once, as a server shutting down does.
type Server struct {
	*nativetest.Server
}

// Start runs a vcsauth until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	return &Server{Server: nativetest.Start(t, nativetest.Options{Dialect: o.Dialect, Now: o.Now, Engine: o.Engine,
		App: app.Deps{Coder: o.Coder}})}
}
