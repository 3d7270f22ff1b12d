package identity_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
)

// countingStore counts token lookups, to prove which checks need no database read.
type countingStore struct {
	store.Identity
	lookups atomic.Int64
}

func (c *countingStore) LookupToken(ctx context.Context, hash []byte) (core.Token, core.User, error) {
	c.lookups.Add(1)
	return c.Identity.LookupToken(ctx, hash)
}

type fixture struct {
	svc   *identity.Service
	st    *countingStore
	raw   *sqlstore.Store
	clock *clock
	sys   core.Principal
}

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func newFixture(t testing.TB) *fixture {
	t.Helper()
	raw, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	keys, err := secret.ParseKeys("k1:"+strings.Repeat("A", 43)+"=", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{}
	c.t.Store(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC).UnixNano())
	cs := &countingStore{Identity: raw}
	svc := identity.New(cs, keys, identity.Options{Now: c.now, MaxLoginFailures: 5, LoginWindow: time.Minute})
	return &fixture{svc: svc, st: cs, raw: raw, clock: c, sys: identity.System()}
}

func (f *fixture) user(t testing.TB, name string, mods ...func(*identity.NewUser)) core.User {
	t.Helper()
	in := identity.NewUser{Username: name, Password: "correct horse " + name}
	for _, m := range mods {
		m(&in)
	}
	u, err := f.svc.CreateUser(context.Background(), f.sys, in)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

func (f *fixture) token(t testing.TB, u core.User, scopes ...string) string {
	t.Helper()
	if scopes == nil {
		scopes = []string{core.ScopeAPI}
	}
	text, _, err := f.svc.CreatePersonalToken(context.Background(), f.sys, u.ID, identity.NewToken{Note: "test", Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func TestCreateUserValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "alice")
	for _, tt := range []struct {
		name  string
		in    identity.NewUser
		field string
	}{
		{"missing username", identity.NewUser{Password: "longenough"}, "username"},
		{"bad username", identity.NewUser{Username: "-x", Password: "longenough"}, "username"},
		{"taken (any case)", identity.NewUser{Username: "ALICE", Password: "longenough"}, "username"},
		{"short password", identity.NewUser{Username: "bob", Password: "short"}, "password"},
		{"bad email", identity.NewUser{Username: "bob", Password: "longenough", Email: "nope"}, "email"},
		{"bad totp", identity.NewUser{Username: "bob", Password: "longenough", TOTPSecret: "!!"}, "totp_secret"},
	} {
		_, err := f.svc.CreateUser(ctx, f.sys, tt.in)
		v, ok := core.AsValidation(err)
		if !ok || v.Field != tt.field {
			t.Errorf("%s: err = %v, want validation error on %s", tt.name, err, tt.field)
		}
	}
	bob := f.user(t, "bob")
	if _, err := f.svc.CreateUser(ctx, core.Principal{User: bob, Scopes: []string{core.ScopeAPI}}, identity.NewUser{Username: "carol", Password: "longenough"}); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("non-admin CreateUser: %v", err)
	}
}

func TestAuthenticateToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user(t, "alice")
	text := f.token(t, alice, core.ScopeReadAPI)

	p, err := f.svc.AuthenticateToken(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	if p.User.ID != alice.ID || p.Method != core.AuthToken || !p.Allows(core.ScopeReadAPI) || p.Allows(core.ScopeAPI) {
		t.Fatalf("principal %+v", p)
	}

	// A corrupted token is refused by its checksum, before any database read.
	before := f.st.lookups.Load()
	for _, bad := range []string{
		text[:len(text)-1] + flip(text[len(text)-1]),
		text[:10] + flip(text[10]) + text[11:],
		"vcp_" + strings.Repeat("a", 38),
		"", "Bearer " + text, strings.ToUpper(text),
	} {
		if _, err := f.svc.AuthenticateToken(ctx, bad); !errors.Is(err, core.ErrUnauthenticated) {
			t.Errorf("AuthenticateToken(%q) = %v", bad, err)
		}
	}
	if n := f.st.lookups.Load() - before; n != 0 {
		t.Errorf("malformed tokens cost %d database reads, want 0", n)
	}

	// Well-formed but unknown: one read, refused.
	other, _ := secret.MintToken(core.TokenPersonal, nil)
	if _, err := f.svc.AuthenticateToken(ctx, other); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("unknown token: %v", err)
	}

	// A read_api token cannot revoke tokens, not even itself.
	if err := f.svc.RevokeToken(ctx, p, p.Token.ID); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("read_api token revoked a token: %v", err)
	}
	// Revoked.
	if err := f.svc.RevokeToken(ctx, f.sys, p.Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateToken(ctx, text); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("revoked token: %v", err)
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestTokenExpiryAndKinds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	alice := f.user(t, "alice")
	text, _, err := f.svc.CreatePersonalToken(ctx, f.sys, alice.ID, identity.NewToken{Scopes: []string{core.ScopeAPI}, ExpiresAt: f.clock.now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateToken(ctx, text); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(time.Hour)
	if _, err := f.svc.AuthenticateToken(ctx, text); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("expired token: %v", err)
	}
	// Refresh and session tokens never authenticate API calls.
	for _, kind := range []core.TokenKind{core.TokenRefresh, core.TokenSession} {
		text, _, err := f.svc.Mint(ctx, core.Token{Kind: kind, UserID: alice.ID, Scopes: []string{core.ScopeAPI}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AuthenticateToken(ctx, text); !errors.Is(err, core.ErrUnauthenticated) {
			t.Errorf("%s token accepted in a header: %v", kind, err)
		}
	}
	// A token cannot mint a token with more scopes than its own.
	narrow := f.token(t, alice, core.ScopeReadAPI)
	p, err := f.svc.AuthenticateToken(ctx, narrow)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.CreatePersonalToken(ctx, p, alice.ID, identity.NewToken{Scopes: []string{core.ScopeAPI}}); err == nil {
		t.Error("a read_api token minted an api token")
	}
	if _, _, err := f.svc.CreatePersonalToken(ctx, f.sys, alice.ID, identity.NewToken{Scopes: []string{"root"}}); err == nil {
		t.Error("unknown scope accepted")
	}
}

func TestPasswordTOTPAndThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	b32, _ := secret.NewTOTPSecret(nil)
	seed, _ := secret.ParseTOTPSecret(b32)
	f.user(t, "alice", func(in *identity.NewUser) { in.TOTPSecret = b32 })
	f.user(t, "bob")
	pw := "correct horse alice"

	if _, err := f.svc.AuthenticatePassword(ctx, "alice", pw, "", ""); !errors.Is(err, core.ErrOTPRequired) {
		t.Fatalf("no OTP: %v", err)
	}
	if _, err := f.svc.AuthenticatePassword(ctx, "alice", pw, "000000", ""); !errors.Is(err, core.ErrOTPRequired) {
		t.Fatalf("wrong OTP: %v", err)
	}
	code := secret.TOTPCode(seed, f.clock.now())
	p, err := f.svc.AuthenticatePassword(ctx, "Alice", pw, code, "")
	if err != nil || p.User.Username != "alice" || p.Method != core.AuthPassword {
		t.Fatalf("right OTP: %+v %v", p, err)
	}
	// The same code again is a replay, even within its 30 s step.
	if _, err := f.svc.AuthenticatePassword(ctx, "alice", pw, code, ""); !errors.Is(err, core.ErrOTPRequired) {
		t.Fatalf("replayed OTP: %v", err)
	}
	f.clock.advance(30 * time.Second)
	if _, err := f.svc.AuthenticatePassword(ctx, "bob", "correct horse bob", "", ""); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if _, err := f.svc.AuthenticatePassword(ctx, "nobody", "whatever1", "", ""); !errors.Is(err, core.ErrUnauthenticated) {
		t.Fatalf("unknown user: %v", err)
	}

	// Five failures within the window throttle bob, even with the right password.
	for i := 0; i < 4; i++ {
		if _, err := f.svc.AuthenticatePassword(ctx, "bob", "wrong password", "", ""); !errors.Is(err, core.ErrUnauthenticated) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, err := f.svc.AuthenticatePassword(ctx, "bob", "wrong password", "", ""); !errors.Is(err, core.ErrThrottled) {
		t.Fatalf("fifth failure: %v", err)
	}
	if _, err := f.svc.AuthenticatePassword(ctx, "bob", "correct horse bob", "", ""); !errors.Is(err, core.ErrThrottled) {
		t.Fatalf("right password while throttled: %v", err)
	}
	// Others are not affected; bob recovers when the failures leave the window.
	if _, err := f.svc.AuthenticatePassword(ctx, "alice", pw, secret.TOTPCode(seed, f.clock.now()), ""); err != nil {
		t.Fatalf("alice while bob throttled: %v", err)
	}
	f.clock.advance(61 * time.Second)
	if _, err := f.svc.AuthenticatePassword(ctx, "bob", "correct horse bob", "", ""); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	evs, _, err := f.raw.ListAudit(ctx, store.AuditFilter{Action: "session.sign_in_failed"}, store.Page{})
	if err != nil || len(evs) < 5 {
		t.Fatalf("audit of failures: %d events, %v", len(evs), err)
	}
}

func TestSessionsDieOnPasswordChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "alice")
	cookie, p, err := f.svc.SignIn(ctx, "alice", "correct horse alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateSession(ctx, cookie); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateToken(ctx, cookie); !errors.Is(err, core.ErrUnauthenticated) {
		t.Error("a session cookie worked as an API token")
	}
	if err := f.svc.ChangePassword(ctx, p, p.User.ID, "wrong", "another password"); err == nil {
		t.Error("password changed without the current one")
	}
	f.clock.advance(time.Second)
	if err := f.svc.ChangePassword(ctx, p, p.User.ID, "correct horse alice", "another password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateSession(ctx, cookie); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("session survived a password change: %v", err)
	}
}

func TestTenancy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	owner, admin, member, stranger := f.user(t, "owner"), f.user(t, "admin"), f.user(t, "member"), f.user(t, "stranger")
	as := func(u core.User) core.Principal {
		return core.Principal{User: u, Method: core.AuthToken, Scopes: []string{core.ScopeAPI}}
	}
	if _, err := f.svc.CreateOrg(ctx, f.sys, "acme", "owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateOrg(ctx, f.sys, "acme", "owner"); err == nil {
		t.Fatal("duplicate org name accepted")
	}
	if _, err := f.svc.CreateOrg(ctx, f.sys, "other", "stranger"); err != nil {
		t.Fatal(err)
	}
	must(t, f.svc.AddMember(ctx, as(owner), "acme", "admin", core.RoleAdmin))
	must(t, f.svc.AddMember(ctx, as(owner), "acme", "member", core.RoleMember))
	if err := f.svc.AddMember(ctx, as(admin), "acme", "stranger", core.RoleMember); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("admin managed members: %v", err)
	}
	if err := f.svc.AddMember(ctx, as(owner), "acme", "nobody", core.RoleMember); err == nil {
		t.Error("unknown user added")
	}
	if err := f.svc.AddMember(ctx, as(owner), "acme", "member", "king"); err == nil {
		t.Error("unknown role accepted")
	}

	prj, err := f.svc.CreateProject(ctx, as(admin), "acme", "web", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateProject(ctx, as(member), "acme", "api", ""); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("member created a project: %v", err)
	}
	// A foreign tenant learns nothing: not found, for the org and its projects.
	if _, err := f.svc.CreateProject(ctx, as(stranger), "acme", "x", ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stranger CreateProject: %v", err)
	}
	if _, _, err := f.svc.Project(ctx, as(stranger), prj.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stranger Project: %v", err)
	}
	if _, _, err := f.svc.Org(ctx, as(stranger), "acme"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("stranger Org: %v", err)
	}
	if _, _, err := f.svc.Project(ctx, as(member), prj.ID); err != nil {
		t.Errorf("member Project: %v", err)
	}
	// A read-only token cannot administer even for an owner.
	ro := core.Principal{User: owner, Method: core.AuthToken, Scopes: []string{core.ScopeReadAPI}}
	if _, err := f.svc.CreateProject(ctx, ro, "acme", "ro", ""); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("read_api token created a project: %v", err)
	}
	// The last owner cannot leave.
	if err := f.svc.RemoveMember(ctx, as(owner), "acme", "owner"); err == nil {
		t.Error("last owner removed")
	}
	orgs, err := f.svc.ListOrgs(ctx, as(member))
	if err != nil || len(orgs) != 1 || orgs[0].Name != "acme" {
		t.Errorf("ListOrgs(member) = %v, %v", orgs, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAuthenticateToken measures a token check end to end: parse, checksum,
// SHA-256, indexed lookup with the user, liveness.
func BenchmarkAuthenticateToken(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	u := f.user(b, "bench")
	var text string
	for i := 0; i < 1000; i++ {
		text = f.token(b, u)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.svc.AuthenticateToken(ctx, text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRejectMalformed: a corrupted token costs no database read.
func BenchmarkRejectMalformed(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	text := f.token(b, f.user(b, "bench"))
	bad := text[:len(text)-1] + flip(text[len(text)-1])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.AuthenticateToken(ctx, bad); err == nil {
			b.Fatal("accepted")
		}
	}
}

// The code that confirmed an enrolment cannot be used again to sign in.
func TestEnrollTOTPSpendsItsCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "alice")
	b32, _ := secret.NewTOTPSecret(nil)
	seed, _ := secret.ParseTOTPSecret(b32)
	code := secret.TOTPCode(seed, f.clock.now())
	p := core.Principal{User: u, Method: core.AuthSession, Scopes: []string{core.ScopeAPI}}
	if err := f.svc.EnrollTOTP(ctx, p, b32, "000000"); err == nil {
		t.Fatal("enrolled with a wrong code")
	}
	if err := f.svc.EnrollTOTP(ctx, p, b32, code); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticatePassword(ctx, "alice", "correct horse alice", code, ""); !errors.Is(err, core.ErrOTPRequired) {
		t.Fatalf("enrolment code reused to sign in: %v", err)
	}
	f.clock.advance(30 * time.Second)
	if _, err := f.svc.AuthenticatePassword(ctx, "alice", "correct horse alice", secret.TOTPCode(seed, f.clock.now()), ""); err != nil {
		t.Fatalf("next step's code: %v", err)
	}
}

// Failed sign-ins of names nobody tries again are swept once the window has passed;
// those still in it stay and keep counting.
func TestSweepLoginFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	fail := func(name string) {
		if _, err := f.svc.AuthenticatePassword(ctx, name, "wrong", "", "192.0.2.1"); err == nil {
			t.Fatalf("%s signed in with a wrong password", name)
		}
	}
	fail("sprayed-1")
	fail("sprayed-2")
	f.clock.advance(2 * time.Minute) // past the fixture's one-minute window
	fail("recent")
	n, err := f.svc.SweepLoginFailures(ctx)
	if err != nil || n != 2 {
		t.Fatalf("SweepLoginFailures: %d, %v; want 2 swept", n, err)
	}
	if left, err := f.raw.LoginFailures(ctx, "user:recent", f.clock.now(), time.Hour); err != nil || left != 1 {
		t.Errorf("the recent failure: %d, %v", left, err)
	}
}

// A password typed into the username field does not reach the audit trail.
func TestFailedSignInAuditHidesNonUsernames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, typed := range []string{"Correct Horse Battery!", "nobody"} {
		if _, err := f.svc.AuthenticatePassword(ctx, typed, "x", "", "192.0.2.1"); err == nil {
			t.Fatalf("%q signed in", typed)
		}
	}
	events, _, err := f.raw.ListAudit(ctx, store.AuditFilter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, e := range events {
		details = append(details, e.Detail)
	}
	all := strings.Join(details, "\n")
	if strings.Contains(strings.ToLower(all), "horse") || !strings.Contains(all, "username=nobody") {
		t.Errorf("audit details: %s", all)
	}
}
