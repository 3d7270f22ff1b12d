// Package connect is vcsauth's upstream engine: the OAuth clients that org admins
// register at Git providers, the connections people make through them (browser flow
// with state and PKCE, device flow, a token or a username and password handed over),
// the health of every connection, refresh before expiry, and git credentials for
// workloads. It speaks no wire format: the API packages translate, the engine
// decides (permissions, validation, flows), through the core's types and errors.
//
// # Refresh
//
// A refresh is one upstream call per connection at a time, across goroutines and
// replicas sharing a database:
//
//   - In a process, concurrent callers share one flight (singleflight keyed by the
//     connection id), detached from any one caller's context.
//   - Across processes, the flight first takes the connection's lease with
//     UpdateConnection (a row-locked read-modify-write): RefreshLeaseOwner and
//     RefreshLeaseUntil are set only when no live lease is there, and only when the
//     token is still due (someone may have refreshed it since it was read). Others
//     wait, polling the row with backoff until the holder's answer is there or the
//     lease lapses, and use the holder's token.
//   - The holder makes the one provider call, and saves the answer at once — before
//     any other network call, with a context that ignores the callers' cancellation —
//     with a compare-and-swap: the row must still be at the version the lease wrote,
//     or, if unrelated writes moved it, still hold the refresh token that was
//     exchanged. New tokens from a relink win; the stale answer is dropped.
//   - Transient failures (network, timeouts, 5xx, rate limits, unreadable answers)
//     keep the refresh token and mark the connection refresh_failing with the
//     reason; a token that still works keeps being served, and the background
//     refresher backs off exponentially (honouring Retry-After). invalid_grant marks
//     it needs_reauth. Nothing logs a token.
//
// # A process that stops mid-refresh
//
// Providers that rotate refresh tokens (GitLab, GitHub Apps, Bitbucket, Gitea …)
// kill the old one the moment they answer. If the process stops after the provider
// answered and before the answer was saved, the only copy of the new refresh token
// died with it, and no restart can recover it: the grant is lost, and only the person
// can make a new one. What can be achieved is to say so precisely instead of failing
// mysteriously, and to lose nothing else:
//
//   - A request that is merely cancelled does not lose the answer: the save runs on
//     a context detached from the callers, so only a real stop loses it.
//   - The dead process's lease stays in the row. When it lapses (after a little
//     over twice the provider timeout, so a live holder never lapses), the next
//     refresh takes it over knowing it was abandoned, and tries the stored refresh
//     token: with a provider that does not rotate, or a holder that stopped before
//     asking, that simply works and nothing was lost. With a rotated token the
//     provider answers invalid_grant, and the connection is marked needs_reauth with
//     ReasonInterrupted ("refresh token was rotated by a refresh whose result was not
//     saved (process stopped mid-refresh)"), which the person sees with the link to
//     re-authorize; a transient failure in between keeps that suspicion in the reason.
//     The connection row (identity, SSH key, ownership) is kept, and re-linking
//     renews it in place.
//
// Lease times are judged by each replica's clock; replicas' clocks must agree to
// well within the lease.
//
// # Git credentials
//
// Credential finds the best connection the caller may use for a remote with one
// query (store.UsableConnections), decrypts one token, and refreshes only when the
// token is due. When there is none, a *NotLinkedError carries the link URL
// ({external}/external-auth/{provider-id}); Wait holds the request until a link
// appears, polling the database so a link made through any replica counts.
package connect
