package sqlstore

// PLACEHOLDER: replaced by the real implementation of the Upstream group.

import (
	"context"
	"time"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/store"
)

func (s *Store) CreateOAuthClient(ctx context.Context, c core.OAuthClient) error { return errTODO }

func (s *Store) OAuthClient(ctx context.Context, id string) (core.OAuthClient, error) {
	return core.OAuthClient{}, errTODO
}

func (s *Store) OAuthClientBySlug(ctx context.Context, slug string) (core.OAuthClient, error) {
	return core.OAuthClient{}, errTODO
}

func (s *Store) ListOAuthClients(ctx context.Context, f store.OAuthClientFilter, p store.Page) ([]core.OAuthClient, int, error) {
	return nil, 0, errTODO
}

func (s *Store) UpdateOAuthClient(ctx context.Context, id string, fn func(core.OAuthClient) (core.OAuthClient, error)) (core.OAuthClient, error) {
	return core.OAuthClient{}, errTODO
}

func (s *Store) DeleteOAuthClient(ctx context.Context, id string) error { return errTODO }

func (s *Store) CreateConnection(ctx context.Context, c core.Connection) error { return errTODO }

func (s *Store) Connection(ctx context.Context, id string) (core.Connection, error) {
	return core.Connection{}, errTODO
}

func (s *Store) ListConnections(ctx context.Context, f store.ConnectionFilter, p store.Page) ([]core.Connection, int, error) {
	return nil, 0, errTODO
}

func (s *Store) UpdateConnection(ctx context.Context, id string, fn func(core.Connection) (core.Connection, error)) (core.Connection, error) {
	return core.Connection{}, errTODO
}

func (s *Store) DeleteConnection(ctx context.Context, id string) error { return errTODO }

func (s *Store) ConnectionsExpiringBefore(ctx context.Context, t time.Time, limit int) ([]core.Connection, error) {
	return nil, errTODO
}

func (s *Store) CreateFlowState(ctx context.Context, st core.FlowState) error { return errTODO }

func (s *Store) FlowState(ctx context.Context, id string) (core.FlowState, error) {
	return core.FlowState{}, errTODO
}

func (s *Store) ConsumeFlowState(ctx context.Context, stateHash []byte, now time.Time) (core.FlowState, error) {
	return core.FlowState{}, errTODO
}

func (s *Store) DeleteExpiredFlowStates(ctx context.Context, before time.Time) (int, error) {
	return 0, errTODO
}
