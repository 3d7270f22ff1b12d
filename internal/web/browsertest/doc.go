// Package browsertest drives the console in a real browser: Debian's chromium,
// headless, from Go through the DevTools protocol (chromedp), against a whole
// installation (webtest) with a fake Git provider.
//
// The tests skip, saying why, when chromium is not installed — unless
// VCSAUTH_TEST_BROWSER is set (CI sets it to 1), in which case a missing browser is
// a failure. VCSAUTH_TEST_CHROMIUM names the browser binary to use (then only that one). Screenshots of
// every page visited go to $VCSAUTH_TEST_OUTPUT/screenshots, or to
// testout/screenshots at the root of the module (git-ignored).
package browsertest
