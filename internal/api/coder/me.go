package coder

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/vcsauth/vcsauth/internal/core"
)

// me is GET /api/v2/users/me, what the coder CLI calls to check a session token.
// The answer comes from the principal authentication loaded: no store read, so
// the check costs no more than authenticating.
//
// Scopes: any valid token may ask, whatever its scopes, as any Coder API key may
// read its own user; the answer names only the token's own person, and its email
// only to a token allowed read_user (core.CanReadProfile), as in every dialect.
//
// The translation: the owner role is a site admin's (Coder's deployment-wide
// administrator), no role otherwise (Coder lists no implicit member role either);
// organization_ids is empty, because naming the caller's organizations would take a
// store read and Coder's organization ids are UUIDs that vcsauth's organizations do
// not have; login_type is "password" for a person who signs in with one, "none" for
// an account without (Coder's name for an account only tokens act for: "token" is
// the login type of an API key, not of a user); status is always "active", since a
// person who may not sign in has no valid token to ask with.
func (h *handlers) me(w http.ResponseWriter, _ *http.Request, p core.Principal) {
	u := p.User
	out := CurrentUser{ID: UserUUID(u.ID), Username: u.Username,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), Status: "active", LoginType: "password",
		OrganizationIDs: []string{}, Roles: []SlimRole{}}
	if core.CanReadProfile(p) {
		out.Email = u.Email
	}
	if u.PasswordHash == "" {
		out.LoginType = "none"
	}
	if u.SiteAdmin {
		out.Roles = append(out.Roles, SlimRole{Name: "owner", DisplayName: "Owner"})
	}
	writeJSON(w, http.StatusOK, out)
}

// UserNamespace is the namespace of the users' UUIDs (UserUUID). It must never
// change: Coder's clients keep users by id.
const UserNamespace = "97f91522-1494-46c1-8710-beef29602679"

// userNamespace is UserNamespace's 16 bytes.
var userNamespace = func() [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(UserNamespace, "-", ""))
	if err != nil || len(b) != 16 {
		panic("coder: UserNamespace is not a UUID")
	}
	return [16]byte(b)
}()

// UserUUID is the UUID Coder's clients know a user by: codersdk's user ids are
// UUIDs and vcsauth's are "user-…" strings, so the id is a name-based UUID
// (RFC 9562 version 5, SHA-1) of the user id in UserNamespace — the same on every
// call and every replica, with nothing stored.
func UserUUID(userID string) string {
	h := sha1.New()
	h.Write(userNamespace[:])
	h.Write([]byte(userID))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // the RFC's variant
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}
