// Package credhelper is vcsauth's client side for workloads and people at a
// terminal: `vcsauth login` (the device flow against our own server, saving a token
// in the credentials file) and `vcsauth git-credential`, git's credential helper.
//
// The helper speaks git's credential-helper protocol (Parse, Format) on stdin and
// stdout and asks the server's POST /api/v1/git/credential for the remote git
// describes, presenting $VCSAUTH_TOKEN or the saved login. It answers get only:
// store and erase are no-ops, because vcsauth owns the tokens (see Store and Erase).
package credhelper
