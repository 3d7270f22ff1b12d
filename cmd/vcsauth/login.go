package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/vcsauth/vcsauth/internal/credhelper"
)

// cmdLogin gets a token for this machine by the device flow against a vcsauth server
// (as the built-in CLI application) and saves it for `vcsauth git-credential`.
func cmdLogin(ctx context.Context, args []string, e env) error {
	var server string
	fs := flag.NewFlagSet("vcsauth login", flag.ContinueOnError)
	fs.StringVar(&server, "server", "", "the vcsauth server's URL")
	if err := parseFlags(fs, args, e, "vcsauth login --server URL"); err != nil {
		return err
	}
	if server == "" {
		return usagef("login: --server is required")
	}
	c, err := credhelper.Login(ctx, credhelper.LoginOptions{Server: server, Out: e.stderr})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "logged in to %s; git can now use `vcsauth git-credential`\n", c.Server)
	return nil
}
