// Command vcsauth is the whole service in one binary: serve, the operator's admin
// commands, migrations, and (for workloads) the git credential helper.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/vcsauth/vcsauth/internal/credhelper"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

// env is what a command sees of its process, so tests can run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const topUsage = `vcsauth — connect a platform to its users' Git providers, and be the OAuth
authority for the platform's own applications.

usage: vcsauth <command> [flags]

commands:
  serve                     run the server (--dev to try it out)
  admin user create         create a user
  admin org create          create an organization
  admin org add-member      add a member to an organization, or change their role
  admin token create        create a personal access token (prints only the token)
  admin access-key create   create an access-key / secret-key pair (ServiceStage signing)
  admin rotate-keys         re-encrypt every stored secret under the first key
  git-credential get         git's credential helper: credentials of your linked accounts
  login --server URL        get a token for this machine by the device flow, for git-credential
  migrate                   bring the database schema up to date
  version                   print the version

Every flag has an environment twin: --data-dir is VCSAUTH_DATA_DIR, and so on.
Run 'vcsauth <command> -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{os.Stdin, os.Stdout, os.Stderr, os.Getenv}))
}

// run runs one command and returns the exit status: 0 ok, 1 failure, 2 bad usage.
// Every failure is one line on stderr.
func run(ctx context.Context, args []string, e env) int {
	err := dispatch(ctx, args, e)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(e.stderr, "vcsauth: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func dispatch(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, topUsage)
		return usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, topUsage)
		return nil
	case "serve":
		return cmdServe(ctx, args[1:], e)
	case "admin":
		return cmdAdmin(ctx, args[1:], e)
	case "migrate":
		return cmdMigrate(ctx, args[1:], e)
	case "login":
		return cmdLogin(ctx, args[1:], e)
	case "git-credential":
		return credhelper.Run(ctx, args[1:], e.stdin, e.stdout, e.stderr, e.getenv)
	case "version":
		fmt.Fprintln(e.stdout, versionString())
		return nil
	}
	return usagef("unknown command %q (run 'vcsauth help')", args[0])
}

func versionString() string {
	if version != "" {
		return "vcsauth " + version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		if v != "" {
			return "vcsauth " + v
		}
	}
	return "vcsauth (devel)"
}
