// Command helper is `vcsauth git-credential` for the credhelper tests: git runs it
// as its credential helper.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/vcsauth/vcsauth/internal/credhelper"
)

func main() {
	if err := credhelper.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "vcsauth: %v\n", err)
		os.Exit(1)
	}
}
