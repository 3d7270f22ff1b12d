package sqlstore

// PLACEHOLDER: replaced by the real implementation of the Downstream group.

import (
	"context"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

func (s *Store) CreateApplication(ctx context.Context, a *core.Application) error { return errTODO }

func (s *Store) Application(ctx context.Context, id int64) (core.Application, error) {
	return core.Application{}, errTODO
}

func (s *Store) ApplicationByClientID(ctx context.Context, clientID string) (core.Application, error) {
	return core.Application{}, errTODO
}

func (s *Store) ListApplications(ctx context.Context, p store.Page) ([]core.Application, int, error) {
	return nil, 0, errTODO
}

func (s *Store) UpdateApplication(ctx context.Context, id int64, fn func(core.Application) (core.Application, error)) (core.Application, error) {
	return core.Application{}, errTODO
}

func (s *Store) DeleteApplication(ctx context.Context, id int64) error { return errTODO }

func (s *Store) GrantFor(ctx context.Context, userID string, applicationID int64, now time.Time) (core.Grant, error) {
	return core.Grant{}, errTODO
}

func (s *Store) Grant(ctx context.Context, id int64, now time.Time) (core.Grant, error) {
	return core.Grant{}, errTODO
}

func (s *Store) FindGrant(ctx context.Context, userID string, applicationID int64, now time.Time) (core.Grant, error) {
	return core.Grant{}, errTODO
}

func (s *Store) ListGrants(ctx context.Context, userID string, now time.Time, p store.Page) ([]core.Grant, int, error) {
	return nil, 0, errTODO
}

func (s *Store) DeleteGrant(ctx context.Context, id int64) error { return errTODO }

func (s *Store) CreateAuthCode(ctx context.Context, c core.AuthorizationCode) error { return errTODO }

func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (c core.AuthorizationCode, first bool, err error) {
	return core.AuthorizationCode{}, false, errTODO
}

func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, before time.Time) (int, error) {
	return 0, errTODO
}

func (s *Store) CreateDeviceAuth(ctx context.Context, d core.DeviceAuthorization) error {
	return errTODO
}

func (s *Store) DeviceAuth(ctx context.Context, deviceCodeHash []byte) (core.DeviceAuthorization, error) {
	return core.DeviceAuthorization{}, errTODO
}

func (s *Store) DeviceAuthByUserCode(ctx context.Context, userCode string) (core.DeviceAuthorization, error) {
	return core.DeviceAuthorization{}, errTODO
}

func (s *Store) UpdateDeviceAuth(ctx context.Context, deviceCodeHash []byte, fn func(core.DeviceAuthorization) (core.DeviceAuthorization, error)) (core.DeviceAuthorization, error) {
	return core.DeviceAuthorization{}, errTODO
}

func (s *Store) DeleteExpiredDeviceAuths(ctx context.Context, before time.Time) (int, error) {
	return 0, errTODO
}
