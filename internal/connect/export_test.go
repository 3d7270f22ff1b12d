package connect

// SetAfterRefreshAnswer installs the crash hook: fn runs after the provider answered
// a refresh and before the answer is saved; an error from it stands for the process
// dying there.
func SetAfterRefreshAnswer(e *Engine, fn func(connID string) error) { e.afterRefreshAnswer = fn }
