package httpx

import "context"

type drainingKey struct{}

// WithDraining returns a context whose Draining channel is ch. The server puts it in
// the base context of every request and closes ch when it starts to drain.
func WithDraining(ctx context.Context, ch <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainingKey{}, ch)
}

// Draining returns a channel that is closed when the server starts to shut down. A
// long poll selects on it to answer early (with "nothing yet") instead of holding the
// drain until its deadline. The request's own context is not cancelled at that moment,
// because ordinary requests must be allowed to finish. Without a server, the channel
// is nil and never ready.
func Draining(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(drainingKey{}).(<-chan struct{})
	return ch
}
