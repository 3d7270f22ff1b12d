package identity

import (
	"context"

	"github.com/vcsauth/vcsauth/internal/core"
	"github.com/vcsauth/vcsauth/internal/secret"
)

// CreateAccessKey makes an access-key / secret-key pair for a user (ServiceStage
// request signing). The secret key is returned once; it is kept encrypted because
// checking a signature needs it in clear.
func (s *Service) CreateAccessKey(ctx context.Context, actor core.Principal, userID string) (ak, sk string, err error) {
	if actor.User.ID != userID && !core.CanAdminSite(actor) {
		return "", "", core.ErrForbidden
	}
	if _, err := s.st.User(ctx, userID); err != nil {
		return "", "", err
	}
	ak, err = secret.NewClientID(s.rand)
	if err != nil {
		return "", "", err
	}
	sk, err = secret.Mint(secret.PrefixAccessKey, s.rand)
	if err != nil {
		return "", "", err
	}
	sealed, err := s.keys.SealString(sk)
	if err != nil {
		return "", "", err
	}
	if err := s.st.CreateAccessKey(ctx, core.AccessKey{ID: ak, UserID: userID, Secret: sealed, CreatedAt: s.Now()}); err != nil {
		return "", "", err
	}
	s.Audit(ctx, &actor, "access_key.create", "access_key", ak, "", "")
	return ak, sk, nil
}
