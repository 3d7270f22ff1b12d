package core

import "context"

type remoteAddrKey struct{}

// WithRemoteAddr records the caller's address, so audit events say where an action
// came from without every call passing it along.
func WithRemoteAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, addr)
}

// RemoteAddr returns the address recorded by WithRemoteAddr, or "".
func RemoteAddr(ctx context.Context) string {
	s, _ := ctx.Value(remoteAddrKey{}).(string)
	return s
}
