package storetest

import (
	"testing"

	"github.com/vcsauth/vcsauth/internal/store"
)

// PLACEHOLDER: the Downstream group's tests.
func runDownstream(t *testing.T, open Opener) {
	each(t, open, map[string]func(t *testing.T, s store.Store){})
}
