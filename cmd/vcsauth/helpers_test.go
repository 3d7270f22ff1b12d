package main

import "github.com/vcsauth/vcsauth/internal/config"

func storeConfig(environ map[string]string) config.Store {
	return config.Store{DataDir: environ["VCSAUTH_DATA_DIR"], Database: environ["VCSAUTH_DATABASE"]}
}
