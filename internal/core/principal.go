package core

// AuthMethod says how a request proved who it is.
type AuthMethod string

const (
	AuthToken     AuthMethod = "token"      // a token we issued, in any dialect's header
	AuthPassword  AuthMethod = "password"   // Basic auth with username + password (+ OTP)
	AuthSession   AuthMethod = "session"    // the web console's session cookie
	AuthAccessKey AuthMethod = "access_key" // a ServiceStage AK/SK signature
)

// Principal is who is calling and with what authority.
type Principal struct {
	User   User
	Method AuthMethod
	// Token is the token used, when Method is AuthToken or AuthSession.
	Token Token
	// Scopes limits what the call may do. A password, session or access-key
	// principal holds ScopeAPI: everything the user may do.
	Scopes []string
}

// Allows reports whether the principal's scopes cover need.
func (p Principal) Allows(need string) bool { return ScopesAllow(p.Scopes, need) }

// The tenancy rules. Callers look up the membership (role "" when there is none) and
// ask here; a "false" on a read must become ErrNotFound, so a foreign tenant cannot
// learn that an object exists.

// CanReadProfile: a token allowed read_user (which read_api and api imply) sees
// the private part of its person's profile (email, two-factor state); others
// only who the token is. Every dialect's who-am-I call applies it.
func CanReadProfile(p Principal) bool { return p.Allows(ScopeReadUser) }

// CanSeeOrg: a member of any role, or a site admin.
func CanSeeOrg(p Principal, role Role) bool { return p.User.SiteAdmin || role.Valid() }

// CanAdminOrg: an owner or admin of the organization, or a site admin, and a token
// allowed to administer.
func CanAdminOrg(p Principal, role Role) bool {
	return (p.User.SiteAdmin || role == RoleOwner || role == RoleAdmin) && p.Allows(ScopeAdmin)
}

// CanManageMembers: only owners (and site admins) change who belongs and with what role.
func CanManageMembers(p Principal, role Role) bool {
	return (p.User.SiteAdmin || role == RoleOwner) && p.Allows(ScopeAdmin)
}

// CanAdminSite: site administrators with a token allowed to administer.
func CanAdminSite(p Principal) bool { return p.User.SiteAdmin && p.Allows(ScopeAdmin) }
