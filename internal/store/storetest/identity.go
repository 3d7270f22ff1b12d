package storetest

import (
	"testing"

	"github.com/vcsauth/vcsauth/internal/store"
)

// PLACEHOLDER: the Identity group's tests.
func runIdentity(t *testing.T, open Opener) {
	each(t, open, map[string]func(t *testing.T, s store.Store){})
}
