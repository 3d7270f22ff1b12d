// Package core holds vcsauth's domain: the entities every dialect speaks about, the
// errors every layer returns, the scope vocabulary and the tenancy rules (who may see
// or change what). It imports nothing of ours, so the store, the engines and the API
// packages can all depend on it without cycles.
package core
