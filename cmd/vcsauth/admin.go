package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/config"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
)

const adminUsage = `usage: vcsauth admin <object> <verb> [flags]

  admin user create          --username U --password P [--email E] [--site-admin] [--totp-secret BASE32]
  admin org create           --name ORG --owner U
  admin org add-member       --org ORG --username U --role owner|admin|member
  admin token create         --username U [--note N] [--scopes a,b] [--expires-in 720h]
  admin access-key create    --username U
  admin rotate-keys

Every admin command takes --data-dir and --database, and works while serve runs.
`

func cmdAdmin(ctx context.Context, args []string, e env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(e.stdout, adminUsage)
		if len(args) == 0 {
			return usagef("admin: no object given")
		}
		return nil
	}
	if args[0] == "rotate-keys" {
		return adminRotateKeys(ctx, args[1:], e)
	}
	if len(args) < 2 {
		return usagef("admin %s: no verb given (see vcsauth admin -h)", args[0])
	}
	cmd := args[0] + " " + args[1]
	run, ok := map[string]func(context.Context, []string, env) error{
		"user create":       adminUserCreate,
		"org create":        adminOrgCreate,
		"org add-member":    adminOrgAddMember,
		"token create":      adminTokenCreate,
		"access-key create": adminAccessKeyCreate,
	}[cmd]
	if !ok {
		return usagef("unknown admin command %q (see vcsauth admin -h)", cmd)
	}
	return run(ctx, args[2:], e)
}

// parseFlags parses a command's flags with their VCSAUTH_* twins. --help prints the
// usage (synopsis first) and returns flag.ErrHelp; anything else wrong is a
// usageError.
func parseFlags(fs *flag.FlagSet, args []string, e env, synopsis string) error {
	if err := config.Parse(fs, args, e.getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			config.Usage(e.stdout, fs, synopsis)
			return err
		}
		return usageError{err}
	}
	return nil
}

// userNamed finds the user an admin command names: "no user" only when there is
// none, the store's own error otherwise.
func userNamed(ctx context.Context, d *deps, username string) (core.User, error) {
	u, err := d.identity.UserByUsername(ctx, username)
	if errors.Is(err, core.ErrNotFound) {
		return core.User{}, fmt.Errorf("no user %q", username)
	}
	return u, err
}

// adminCommand parses a command's flags (with the store flags), then opens the data.
func adminCommand(ctx context.Context, name string, args []string, e env, register func(*flag.FlagSet), required ...string) (*deps, error) {
	var sc config.Store
	fs := flag.NewFlagSet("vcsauth admin "+name, flag.ContinueOnError)
	sc.Register(fs)
	register(fs)
	if err := parseFlags(fs, args, e, fs.Name()+" [flags]"); err != nil {
		return nil, err
	}
	for _, r := range required {
		if fs.Lookup(r).Value.String() == "" {
			return nil, usagef("%s: --%s is required", fs.Name(), r)
		}
	}
	return openDeps(ctx, sc, e, newLogger(e.stderr), 0)
}

func adminUserCreate(ctx context.Context, args []string, e env) error {
	var in identity.NewUser
	d, err := adminCommand(ctx, "user create", args, e, func(fs *flag.FlagSet) {
		fs.StringVar(&in.Username, "username", "", "the user's name")
		fs.StringVar(&in.Password, "password", "", "the user's password (at least 8 characters)")
		fs.StringVar(&in.Email, "email", "", "the user's email address")
		fs.BoolVar(&in.SiteAdmin, "site-admin", false, "make the user a site administrator")
		fs.StringVar(&in.TOTPSecret, "totp-secret", "", "enroll a TOTP second factor with this base32 secret")
	}, "username", "password")
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.identity.CreateUser(ctx, identity.System(), in)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(e.stdout, u.ID)
	return nil
}

func adminOrgCreate(ctx context.Context, args []string, e env) error {
	var name, owner string
	d, err := adminCommand(ctx, "org create", args, e, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "the organization's name")
		fs.StringVar(&owner, "owner", "", "username of its first owner")
	}, "name", "owner")
	if err != nil {
		return err
	}
	defer d.Close()
	o, err := d.identity.CreateOrg(ctx, identity.System(), name, owner)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(e.stdout, o.ID)
	return nil
}

func adminOrgAddMember(ctx context.Context, args []string, e env) error {
	var org, username, role string
	d, err := adminCommand(ctx, "org add-member", args, e, func(fs *flag.FlagSet) {
		fs.StringVar(&org, "org", "", "the organization's name")
		fs.StringVar(&username, "username", "", "the user to add")
		fs.StringVar(&role, "role", "member", "owner, admin or member")
	}, "org", "username")
	if err != nil {
		return err
	}
	defer d.Close()
	return describe(d.identity.AddMember(ctx, identity.System(), org, username, core.Role(role)))
}

func adminTokenCreate(ctx context.Context, args []string, e env) error {
	var username, note, scopes string
	var expiresIn time.Duration
	d, err := adminCommand(ctx, "token create", args, e, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "whose token")
		fs.StringVar(&note, "note", "", "what the token is for")
		fs.StringVar(&scopes, "scopes", core.ScopeAPI, "comma-separated scopes: "+strings.Join(core.Scopes, ", "))
		fs.DurationVar(&expiresIn, "expires-in", 0, "lifetime, e.g. 720h (default: no expiry)")
	}, "username")
	if err != nil {
		return err
	}
	defer d.Close()
	sc, err := core.ParseScopes(scopes)
	if err != nil {
		return describe(err)
	}
	if len(sc) == 0 {
		sc = []string{core.ScopeAPI}
	}
	u, err := userNamed(ctx, d, username)
	if err != nil {
		return err
	}
	in := identity.NewToken{Note: note, Scopes: sc}
	if expiresIn < 0 {
		return usagef("--expires-in must be positive")
	}
	if expiresIn > 0 {
		in.ExpiresAt = d.identity.Now().Add(expiresIn)
	}
	text, _, err := d.identity.CreatePersonalToken(ctx, identity.System(), u.ID, in)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(e.stdout, text)
	return nil
}

func adminAccessKeyCreate(ctx context.Context, args []string, e env) error {
	var username string
	d, err := adminCommand(ctx, "access-key create", args, e, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "whose key pair")
	}, "username")
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := userNamed(ctx, d, username)
	if err != nil {
		return err
	}
	ak, sk, err := d.identity.CreateAccessKey(ctx, identity.System(), u.ID)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stdout, "access_key=%s\nsecret_key=%s\n", ak, sk)
	return nil
}

func adminRotateKeys(ctx context.Context, args []string, e env) error {
	d, err := adminCommand(ctx, "rotate-keys", args, e, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := d.identity.RotateKeys(ctx, d.store)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "re-encrypted %d secrets under key %q\n", n, d.keys.PrimaryID())
	return nil
}

// describe makes a core error read well on one line.
func describe(err error) error {
	if err == nil {
		return nil
	}
	if v, ok := core.AsValidation(err); ok {
		return fmt.Errorf("invalid input: %s", v.Error())
	}
	return err
}

func cmdMigrate(ctx context.Context, args []string, e env) error {
	var sc config.Store
	fs := flag.NewFlagSet("vcsauth migrate", flag.ContinueOnError)
	sc.Register(fs)
	if err := parseFlags(fs, args, e, "vcsauth migrate [flags]"); err != nil {
		return err
	}
	d, err := openDeps(ctx, sc, e, newLogger(e.stderr), 0)
	if err != nil {
		return err
	}
	defer d.Close()
	v, err := d.store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "schema at version %d\n", v)
	return nil
}
