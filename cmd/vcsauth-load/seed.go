package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vcsauth/vcsauth/internal/authserver"
	"github.com/vcsauth/vcsauth/internal/connect"
	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/identity"
	"github.com/vcsauth/vcsauth/internal/secret"
	"github.com/vcsauth/vcsauth/internal/store/sqlstore"
	"golang.org/x/oauth2"
)

// How the data is seeded:
//
//   - People, the organization and their tokens through `vcsauth admin …`, as an
//     operator would.
//   - Applications, tokens of applications, and connections through the engines
//     (authserver, connect) in this process, against the same database, before serve
//     starts: nothing of the server's HTTP surface is needed to make them, and the
//     connections are made by the real browser-flow code against the fake provider.
//   - What is only volume (single-use authorization codes, and the -large data) as
//     rows written directly with multi-row INSERTs in big transactions: through the
//     engines, a million rows would take longer than the whole run may.

const (
	loadUser    = "loadtest"
	stormUser   = "stormuser"
	loadOrg     = "loadorg"
	redirectURI = "http://127.0.0.1/cb"
	remotePath  = "/load/repo.git"
)

// seed is what the scenarios need to know of the seeded data.
type seed struct {
	token      string // loadtest's personal token (scope api)
	stormToken string // stormuser's personal token (scope credentials)
	remote     string // a git remote the fake provider serves

	confID, confSecret string   // a confidential application
	accessToken        string   // an access token of it, for loadtest (introspection)
	refreshTokens      []string // one refresh-token chain per connection (refresh grant)

	publicID string   // a public application (code exchange with PKCE)
	codes    []string // single-use codes of it
	verifier string   // the PKCE verifier of every code

	stormConn string // stormuser's connection, expired before the storm
	// credTokens are the tokens of the credential scenario's people, one per load
	// connection, each with a connection of their own: a fleet of workloads, not
	// one person's burst (whose concurrent lookups the store coalesces).
	credTokens []string
	project    string // a project of the load organization (ServiceStage's {project_id})

	large *largeSeed // set by seedLarge
}

// seedSmall makes the data of every scenario. st is the harness's own handle on the
// database; keys is the keyring the server is given too.
func seedSmall(ctx context.Context, in *instance, st *sqlstore.Store, keys *secret.Keyring, prov *provider, o options) (*seed, error) {
	var s seed
	pw := rand.Text()
	steps := [][]string{
		{"admin", "user", "create", "--username", loadUser, "--password", pw, "--site-admin"},
		{"admin", "user", "create", "--username", stormUser, "--password", pw},
		{"admin", "org", "create", "--name", loadOrg, "--owner", loadUser},
		{"admin", "org", "add-member", "--org", loadOrg, "--username", stormUser, "--role", "member"},
	}
	for _, args := range steps {
		if _, err := in.command(ctx, args...); err != nil {
			return nil, err
		}
	}
	o.logf("seed: people and organization made with vcsauth admin")
	var err error
	if s.token, err = in.command(ctx, "admin", "token", "create", "--username", loadUser, "--note", "load", "--scopes", "api"); err != nil {
		return nil, err
	}
	if s.stormToken, err = in.command(ctx, "admin", "token", "create", "--username", stormUser, "--note", "storm", "--scopes", "credentials"); err != nil {
		return nil, err
	}

	id := identity.New(st, keys, identity.Options{})
	auth, err := authserver.New(authserver.Options{Store: st, Identity: id, Issuer: "http://127.0.0.1"})
	if err != nil {
		return nil, err
	}
	alice, err := st.UserByUsername(ctx, loadUser)
	if err != nil {
		return nil, err
	}
	p := core.Principal{User: alice, Method: core.AuthPassword, Scopes: []string{core.ScopeAPI}}
	sys := identity.System()
	prj, err := id.CreateProject(ctx, p, loadOrg, "load", "the load test's project")
	if err != nil {
		return nil, fmt.Errorf("project: %w", err)
	}
	s.project = prj.ID

	conf, sec, err := auth.CreateApplication(ctx, sys, authserver.NewApplication{Name: "load confidential",
		RedirectURIs: []string{redirectURI}, Scopes: []string{core.ScopeAPI}, Confidential: true})
	if err != nil {
		return nil, fmt.Errorf("confidential application: %w", err)
	}
	s.confID, s.confSecret = conf.ClientID, sec
	// Tokens of the confidential application, by the engine's own code flow.
	for i := 0; i <= o.conns; i++ {
		tr, err := codeFlow(ctx, auth, p, conf)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			s.accessToken = tr.AccessToken
		} else {
			s.refreshTokens = append(s.refreshTokens, tr.RefreshToken)
		}
	}

	o.logf("seed: applications and %d code flows", o.conns+1)
	pub, _, err := auth.CreateApplication(ctx, sys, authserver.NewApplication{Name: "load public",
		RedirectURIs: []string{redirectURI}, Scopes: []string{core.ScopeAPI}, Confidential: false})
	if err != nil {
		return nil, fmt.Errorf("public application: %w", err)
	}
	s.publicID = pub.ClientID
	s.verifier = rand.Text() + rand.Text() // 52 characters of RFC 7636's alphabet
	if err := seedCodes(ctx, st, pub, s.verifier, o.codes, &s.codes); err != nil {
		return nil, fmt.Errorf("authorization codes: %w", err)
	}

	o.logf("seed: %d authorization codes", o.codes)
	// Connections, through the real browser flow against the fake provider.
	eng, err := connect.New(st, keys, id, connect.Options{ExternalURL: "http://127.0.0.1"})
	if err != nil {
		return nil, err
	}
	kind := core.ProviderGitLabCommunityEdition
	name, key, csec := "load gitlab", "load-app", "load-app-secret"
	oc, err := eng.CreateClient(ctx, sys, loadOrg, connect.ClientInput{Name: &name, Kind: &kind, HTTPURL: &prov.url, Key: &key, Secret: &csec})
	if err != nil {
		return nil, fmt.Errorf("oauth client: %w", err)
	}
	s.remote = prov.url + remotePath
	if _, err := linkThroughFlow(ctx, eng, p, oc.ID); err != nil {
		return nil, fmt.Errorf("loadtest's connection: %w", err)
	}
	bob, err := st.UserByUsername(ctx, stormUser)
	if err != nil {
		return nil, err
	}
	c, err := linkThroughFlow(ctx, eng, core.Principal{User: bob, Method: core.AuthPassword, Scopes: []string{core.ScopeAPI}}, oc.ID)
	if err != nil {
		return nil, fmt.Errorf("stormuser's connection: %w", err)
	}
	s.stormConn = c.ID
	for i := range o.conns {
		u, err := id.CreateUser(ctx, sys, identity.NewUser{Username: fmt.Sprintf("worker%03d", i), Password: pw})
		if err != nil {
			return nil, fmt.Errorf("credential worker: %w", err)
		}
		if err := id.AddMember(ctx, sys, loadOrg, u.Username, core.RoleMember); err != nil {
			return nil, fmt.Errorf("credential worker: %w", err)
		}
		wp := core.Principal{User: u, Method: core.AuthPassword, Scopes: []string{core.ScopeAPI}}
		if _, err := linkThroughFlow(ctx, eng, wp, oc.ID); err != nil {
			return nil, fmt.Errorf("credential worker's connection: %w", err)
		}
		tok, _, err := id.CreatePersonalToken(ctx, sys, u.ID, identity.NewToken{Note: "load", Scopes: []string{core.ScopeCredentials}})
		if err != nil {
			return nil, fmt.Errorf("credential worker's token: %w", err)
		}
		s.credTokens = append(s.credTokens, tok)
	}
	o.logf("seed: connections")
	return &s, nil
}

// codeFlow runs the authorization code flow in the engine: authorize, approve, exchange.
func codeFlow(ctx context.Context, auth *authserver.Engine, p core.Principal, app core.Application) (*authserver.TokenResponse, error) {
	az, err := auth.ValidateAuthorize(ctx, authserver.AuthorizeRequest{ResponseType: "code", ClientID: app.ClientID,
		RedirectURI: redirectURI, State: "s"})
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	to, err := auth.IssueCode(ctx, p, az)
	if err != nil {
		return nil, fmt.Errorf("issue code: %w", err)
	}
	u, err := url.Parse(to)
	if err != nil {
		return nil, err
	}
	tr, err := auth.ExchangeCode(ctx, app, authserver.CodeExchange{Code: u.Query().Get("code"), RedirectURI: redirectURI})
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	return tr, nil
}

// linkThroughFlow makes p's connection through client ocID: start the browser flow,
// then come back to the callback with a code, as the provider would send the browser.
func linkThroughFlow(ctx context.Context, eng *connect.Engine, p core.Principal, ocID string) (core.Connection, error) {
	to, err := eng.StartBrowser(ctx, p, connect.FlowRequest{Target: connect.Target{OAuthClient: ocID}})
	if err != nil {
		return core.Connection{}, fmt.Errorf("start: %w", err)
	}
	u, err := url.Parse(to)
	if err != nil {
		return core.Connection{}, err
	}
	res, err := eng.Callback(ctx, &p, connect.CallbackInput{OAuthClient: ocID, State: u.Query().Get("state"), Code: "load-code-" + rand.Text()})
	if err != nil {
		return core.Connection{}, fmt.Errorf("callback: %w", err)
	}
	return res.Connection, nil
}

// expireConnection makes a connection's access token expired a minute ago, so the
// next credential request must refresh it. It is done while the server runs (the
// server reads the row on every request), right before the storm, so no background
// refresh can have renewed it first.
func expireConnection(ctx context.Context, st *sqlstore.Store, id string) error {
	past := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	_, err := st.UpdateConnection(ctx, id, func(c core.Connection) (core.Connection, error) {
		c.ExpiresAt, c.UpdatedAt = past, past
		return c, nil
	})
	return err
}

// codesPerUser is how many of the seeded codes one person redeems: a grant per person
// and application, as in life, rather than one grant collecting every token of the
// run.
const codesPerUser = 10

// seedCodes writes n single-use authorization codes of app, bound to redirectURI
// and to the S256 challenge of verifier, spread over n/codesPerUser people.
func seedCodes(ctx context.Context, st *sqlstore.Store, app core.Application, verifier string, n int, out *[]string) error {
	codeUsers := max(1, n/codesPerUser)
	now := time.Now().UTC()
	if err := bulkInsert(ctx, st.DB(), st.Dialect(), "users", []string{"id", "username", "password_hash", "created_at", "updated_at"}, codeUsers,
		func(i int, a []any) {
			a[0], a[1], a[2], a[3], a[4] = fmt.Sprintf("user-loadcode%d", i), fmt.Sprintf("loadcode%d", i), "!", now.UnixMicro(), now.UnixMicro()
		}); err != nil {
		return err
	}
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	codes := make([]string, n)
	for i := range codes {
		c, err := secret.Mint(secret.PrefixAuthCode, nil)
		if err != nil {
			return err
		}
		codes[i] = c
	}
	expires := now.Add(30 * time.Minute).UnixMicro()
	err := bulkInsert(ctx, st.DB(), st.Dialect(), "authorization_codes", []string{"hash", "application_id", "user_id", "redirect_uri", "scopes",
		"code_challenge", "code_challenge_method", "family_id", "expires_at", "created_at"}, n,
		func(i int, a []any) {
			a[0], a[1], a[2], a[3], a[4] = secret.HashToken(codes[i]), app.ID, fmt.Sprintf("user-loadcode%d", i%codeUsers), redirectURI, `["api"]`
			a[5], a[6], a[7], a[8], a[9] = challenge, authserver.PKCES256, "fam-load"+strconv.Itoa(i), expires, now.UnixMicro()
		})
	if err != nil {
		return err
	}
	*out = codes
	return nil
}

// largeSeed describes the -large data.
type largeSeed struct {
	orgs, users, connections, tokens int
	took                             time.Duration
	// crowdToken is a credentials token of one of the seeded people, whose
	// organization holds membersPerOrg*connsPerUser connections of its members.
	crowdToken string
	// coldTokens are credentials tokens of the first coldPeople seeded people, one
	// each, for the cold credential row.
	coldTokens []string
}

// The -large data: orgsLarge organizations, each with membersPerOrg people who have
// connsPerUser connections and tokensPerUser tokens each: 1,000,000 of each with the
// defaults. Tenants are many and each is of a plausible size; loadtest's own
// organization is not among them, so scenarios 1–3 see the tables grow and nothing
// else. The extra "crowd" credential scenario asks as one of the seeded people, whose
// organization holds 1,000 connections of others.
const (
	orgsLarge     = 1000
	membersPerOrg = 100
	connsPerUser  = 10
	tokensPerUser = 10
	// coldPeople take turns in the cold credential row: each asks again only
	// after all the others have, which at the rates measured here is seconds
	// later, past the caches' TTL.
	coldPeople = 20000
)

// seedLarge writes the -large rows directly, in big transactions of multi-row
// INSERTs, with the OAuth clients pointing at the fake provider.
func seedLarge(ctx context.Context, st *sqlstore.Store, keys *secret.Keyring, prov *provider, o options) (*largeSeed, error) {
	scale := o.largeScale
	t0 := time.Now()
	orgs := max(1, int(orgsLarge*scale))
	users := orgs * membersPerOrg
	ls := &largeSeed{orgs: orgs, users: users, connections: users * connsPerUser, tokens: users * tokensPerUser}
	now := time.Now().UTC()
	us := now.UnixMicro()
	// One connection for the whole import, tuned for it: a big page cache, and no
	// waiting for the disk on commit (a crash here only loses a seed).
	db, err := st.DB().Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tune, untune := []string{`PRAGMA cache_size = -262144`, `PRAGMA synchronous = OFF`}, []string{`PRAGMA cache_size = -2000`, `PRAGMA synchronous = NORMAL`}
	if st.Dialect() == "postgres" {
		tune, untune = []string{`SET synchronous_commit = off`}, []string{`RESET synchronous_commit`}
	}
	for _, q := range tune {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, q := range untune {
			_, _ = db.ExecContext(context.WithoutCancel(ctx), q)
		}
	}()
	step := time.Now()
	logStep := func(what string, n int) {
		o.logf("large: %d %s in %v", n, what, time.Since(step).Round(time.Millisecond))
		step = time.Now()
	}

	secretSealed, err := keys.SealString("bulk-client-secret")
	if err != nil {
		return nil, err
	}
	err = bulkInsert(ctx, db, st.Dialect(), "organizations", []string{"id", "name", "created_at", "updated_at"}, orgs, func(i int, a []any) {
		a[0], a[1], a[2], a[3] = fmt.Sprintf("org-bulk%04d", i), fmt.Sprintf("bulk%04d", i), us, us
	})
	if err != nil {
		return nil, err
	}
	logStep("organizations", orgs)
	// connsPerUser clients per organization: a person holds one connection of their
	// own through a client, so each person's connections go through different ones.
	err = bulkInsert(ctx, db, st.Dialect(), "oauth_clients", []string{"id", "org_id", "name", "kind", "http_url", "key", "secret", "scopes", "created_at", "updated_at"}, orgs*connsPerUser,
		func(i int, a []any) {
			org := i / connsPerUser
			a[0], a[1], a[2], a[3], a[4] = fmt.Sprintf("oc-bulk%04d-%02d", org, i%connsPerUser), fmt.Sprintf("org-bulk%04d", org), fmt.Sprintf("bulk %d", i%connsPerUser), string(core.ProviderGitLabCommunityEdition), prov.url
			a[5], a[6], a[7], a[8], a[9] = "bulk-app", string(secretSealed), `["read_user","write_repository"]`, us, us
		})
	if err != nil {
		return nil, err
	}
	logStep("oauth_clients", orgs*connsPerUser)
	err = bulkInsert(ctx, db, st.Dialect(), "users", []string{"id", "username", "password_hash", "created_at", "updated_at"}, users, func(i int, a []any) {
		a[0], a[1], a[2], a[3], a[4] = fmt.Sprintf("user-bulk%07d", i), fmt.Sprintf("bulk%07d", i), "!", us, us
	})
	if err != nil {
		return nil, err
	}
	logStep("users", users)
	err = bulkInsert(ctx, db, st.Dialect(), "memberships", []string{"org_id", "user_id", "role", "created_at"}, users, func(i int, a []any) {
		a[0], a[1], a[2], a[3] = fmt.Sprintf("org-bulk%04d", i/membersPerOrg), fmt.Sprintf("user-bulk%07d", i), string(core.RoleMember), us
	})
	if err != nil {
		return nil, err
	}
	logStep("memberships", users)
	// Rows go in in the order of every index they touch, so that each B-tree grows
	// at its right edge: a million random inserts into the hash index would take
	// most of the seeding time and measure nothing of vcsauth. Hashes are random
	// anyway; sorted, and the i-th given to person i/tokensPerUser, both the hash
	// and the person's index fill in order.
	hashes := make([][sha256.Size]byte, ls.tokens)
	for i := range hashes {
		hashes[i] = sha256.Sum256([]byte("bulk-token-" + strconv.Itoa(i)))
	}
	slices.SortFunc(hashes, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	err = bulkInsert(ctx, db, st.Dialect(), "tokens", []string{"kind", "hash", "last_eight", "user_id", "scopes", "created_at", "updated_at"}, ls.tokens,
		func(i int, a []any) {
			a[0], a[1], a[2], a[3], a[4], a[5], a[6] = string(core.TokenPersonal), hashes[i][:], "bulkbulk", fmt.Sprintf("user-bulk%07d", i/tokensPerUser), `["api"]`, us, us
		})
	if err != nil {
		return nil, err
	}
	logStep("tokens", ls.tokens)
	// One sealed value for every row: sealing a million values would only measure
	// AES-GCM, and the server never opens the tokens of connections it does not use.
	access, err := keys.SealString("glpat-bulk-access")
	if err != nil {
		return nil, err
	}
	refresh, err := keys.SealString("glrt-bulk-refresh")
	if err != nil {
		return nil, err
	}
	err = bulkInsert(ctx, db, st.Dialect(), "connections", []string{"id", "oauth_client_id", "owner_kind", "owner_user_id", "owning_user_id", "owner_org_id",
		"credential_kind", "access_token", "refresh_token", "token_type", "scopes", "expires_at", "upstream_id", "upstream_login",
		"health", "created_at", "updated_at"}, ls.connections,
		func(i int, a []any) {
			u := i / connsPerUser
			org := u / membersPerOrg
			uid := fmt.Sprintf("user-bulk%07d", u)
			a[0], a[1], a[2], a[3], a[4], a[5] = fmt.Sprintf("ot-bulk%08d", i), fmt.Sprintf("oc-bulk%04d-%02d", org, i%connsPerUser), string(core.OwnerUser), uid, uid, fmt.Sprintf("org-bulk%04d", org)
			// Expiries spread over the next 30 days, never within the refresh margin
			// during the run: the background refresher has nothing to do.
			exp := now.Add(2*time.Hour + time.Duration(i%(30*24*3600))*time.Second).UnixMicro()
			a[6], a[7], a[8], a[9], a[10], a[11] = string(core.CredentialOAuth), string(access), string(refresh), "Bearer", `["read_user"]`, exp
			a[12], a[13], a[14], a[15], a[16] = strconv.Itoa(i), fmt.Sprintf("bulk%07d", u), string(core.HealthHealthy), us+int64(i), us+int64(i)
		})
	if err != nil {
		return nil, err
	}
	logStep("connections", ls.connections)
	// A real token for the first seeded person, to ask for credentials as them.
	id := identity.New(st, keys, identity.Options{})
	text, _, err := id.Mint(ctx, core.Token{Kind: core.TokenPersonal, UserID: "user-bulk0000000", Scopes: []string{core.ScopeCredentials}, Note: "crowd"})
	if err != nil {
		return nil, err
	}
	ls.crowdToken = text
	for start := 0; start < min(users, coldPeople); start += 1000 {
		var tmpls []core.Token
		for i := start; i < min(users, coldPeople, start+1000); i++ {
			tmpls = append(tmpls, core.Token{Kind: core.TokenPersonal, UserID: fmt.Sprintf("user-bulk%07d", i),
				Scopes: []string{core.ScopeCredentials}, Note: "cold"})
		}
		texts, _, err := id.MintTokens(ctx, 0, tmpls...)
		if err != nil {
			return nil, err
		}
		ls.coldTokens = append(ls.coldTokens, texts...)
	}
	// PostgreSQL: fresh statistics, as autovacuum would have gathered by the time
	// tables are this big. SQLite gets none: vcsauth never runs ANALYZE there, so
	// its planner works without them in production too; its write-ahead log is
	// folded into the database, as a server that has run for a while would have.
	maint := `PRAGMA wal_checkpoint(TRUNCATE)`
	if st.Dialect() == "postgres" {
		maint = `ANALYZE`
	}
	if _, err := db.ExecContext(ctx, maint); err != nil {
		return nil, err
	}
	logStep("maintenance ("+maint+")", 1)
	ls.took = time.Since(t0)
	return ls, nil
}

// bulkInsert writes n rows into table, row(i, args) filling the values of row i,
// as multi-row INSERTs of insertRows rows in transactions of txRows rows.
//
// The placeholders are "?" on SQLite: modernc looks each "$n" up by name in a list,
// which makes binding a statement of thousands of "$n" quadratic.
func bulkInsert(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, dialect, table string, cols []string, n int, row func(i int, args []any)) error {
	const txRows = 200000
	insertRows := max(1, min(500, 30000/len(cols))) // below both databases' limits on parameters
	stmtText := func(rows int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ", "))
		p := 1
		for r := range rows {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range cols {
				if c > 0 {
					b.WriteString(", ")
				}
				if dialect == "sqlite" {
					b.WriteByte('?')
				} else {
					b.WriteByte('$')
					b.WriteString(strconv.Itoa(p))
					p++
				}
			}
			b.WriteByte(')')
		}
		return b.String()
	}
	full := stmtText(insertRows)
	args := make([]any, len(cols)*insertRows)
	for start := 0; start < n; start += txRows {
		end := min(n, start+txRows)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, full)
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", table, err)
		}
		for i := start; i < end; i += insertRows {
			k := min(insertRows, end-i)
			for r := range k {
				row(i+r, args[r*len(cols):(r+1)*len(cols)])
			}
			if k == insertRows {
				_, err = stmt.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, stmtText(k), args[:k*len(cols)]...)
			}
			if err != nil {
				stmt.Close()
				tx.Rollback()
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}

// errSkip marks a scenario that cannot run against this server (its route is not
// wired yet); the reason is in the message.
var errSkip = errors.New("skipped")
