package sqlstore

// PLACEHOLDER: replaced by the real implementation of the Identity group.

import (
	"context"
	"errors"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

var errTODO = errors.New("not implemented")

var _ = time.Now
var _ core.User
var _ store.Page

func (s *Store) CreateUser(ctx context.Context, u core.User) error { return errTODO }

func (s *Store) User(ctx context.Context, id string) (core.User, error) { return core.User{}, errTODO }

func (s *Store) UserByUsername(ctx context.Context, username string) (core.User, error) {
	return core.User{}, errTODO
}

func (s *Store) ListUsers(ctx context.Context, p store.Page) ([]core.User, int, error) {
	return nil, 0, errTODO
}

func (s *Store) UpdateUser(ctx context.Context, id string, fn func(core.User) (core.User, error)) (core.User, error) {
	return core.User{}, errTODO
}

func (s *Store) DeleteUser(ctx context.Context, id string) error { return errTODO }

func (s *Store) CreateOrg(ctx context.Context, o core.Organization) error { return errTODO }

func (s *Store) Org(ctx context.Context, id string) (core.Organization, error) {
	return core.Organization{}, errTODO
}

func (s *Store) OrgByName(ctx context.Context, name string) (core.Organization, error) {
	return core.Organization{}, errTODO
}

func (s *Store) ListOrgs(ctx context.Context, p store.Page) ([]core.Organization, int, error) {
	return nil, 0, errTODO
}

func (s *Store) UpdateOrg(ctx context.Context, id string, fn func(core.Organization) (core.Organization, error)) (core.Organization, error) {
	return core.Organization{}, errTODO
}

func (s *Store) DeleteOrg(ctx context.Context, id string) error { return errTODO }

func (s *Store) PutMembership(ctx context.Context, m core.Membership) error { return errTODO }

func (s *Store) Membership(ctx context.Context, orgID, userID string) (core.Membership, error) {
	return core.Membership{}, errTODO
}

func (s *Store) ListMembers(ctx context.Context, orgID string) ([]core.Membership, error) {
	return nil, errTODO
}

func (s *Store) ListMemberships(ctx context.Context, userID string) ([]core.Membership, error) {
	return nil, errTODO
}

func (s *Store) DeleteMembership(ctx context.Context, orgID, userID string) error { return errTODO }

func (s *Store) CreateProject(ctx context.Context, p core.Project) error { return errTODO }

func (s *Store) Project(ctx context.Context, id string) (core.Project, error) {
	return core.Project{}, errTODO
}

func (s *Store) ListProjects(ctx context.Context, orgID string, p store.Page) ([]core.Project, int, error) {
	return nil, 0, errTODO
}

func (s *Store) UpdateProject(ctx context.Context, id string, fn func(core.Project) (core.Project, error)) (core.Project, error) {
	return core.Project{}, errTODO
}

func (s *Store) DeleteProject(ctx context.Context, id string) error { return errTODO }

func (s *Store) CreateToken(ctx context.Context, t *core.Token) error { return errTODO }

func (s *Store) Token(ctx context.Context, id int64) (core.Token, error) {
	return core.Token{}, errTODO
}

func (s *Store) LookupToken(ctx context.Context, hash []byte) (core.Token, core.User, error) {
	return core.Token{}, core.User{}, errTODO
}

func (s *Store) ListTokens(ctx context.Context, f store.TokenFilter, p store.Page) ([]core.Token, int, error) {
	return nil, 0, errTODO
}

func (s *Store) UpdateToken(ctx context.Context, id int64, fn func(core.Token) (core.Token, error)) (core.Token, error) {
	return core.Token{}, errTODO
}

func (s *Store) RevokeTokens(ctx context.Context, f store.TokenFilter, at time.Time) (int, error) {
	return 0, errTODO
}

func (s *Store) DeleteToken(ctx context.Context, id int64) error { return errTODO }

func (s *Store) DeleteDeadTokens(ctx context.Context, before time.Time) (int, error) {
	return 0, errTODO
}

func (s *Store) RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	return 0, errTODO
}

func (s *Store) LoginFailures(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	return 0, errTODO
}

func (s *Store) ClearLoginFailures(ctx context.Context, key string) error { return errTODO }

func (s *Store) AppendAudit(ctx context.Context, e *core.AuditEvent) error { return errTODO }

func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter, p store.Page) ([]core.AuditEvent, int, error) {
	return nil, 0, errTODO
}

func (s *Store) CreateAccessKey(ctx context.Context, k core.AccessKey) error { return errTODO }

func (s *Store) AccessKey(ctx context.Context, id string) (core.AccessKey, error) {
	return core.AccessKey{}, errTODO
}

func (s *Store) ListAccessKeys(ctx context.Context, userID string) ([]core.AccessKey, error) {
	return nil, errTODO
}

func (s *Store) DeleteAccessKey(ctx context.Context, id string) error { return errTODO }

func (s *Store) ReencryptSecrets(ctx context.Context, fn func(core.Sealed) (core.Sealed, error)) (int, error) {
	return 0, errTODO
}
