package sqlstore

// sealedColumn names a column holding core.Sealed text, keyed by the table's primary
// key column. ReencryptSecrets walks this list; every new encrypted column must be
// added here, and storetest proves rotation reaches each one.
type sealedColumn struct {
	table, key, column string
}

var sealedColumns = []sealedColumn{
	{"users", "id", "totp_secret"},
	{"access_keys", "id", "secret"},
	// Upstream (migration 0002):
	{"oauth_clients", "id", "secret"},
	{"oauth_clients", "id", "private_key"},
	{"connections", "id", "access_token"},
	{"connections", "id", "refresh_token"},
	{"connections", "id", "ssh_key"},
	{"flow_states", "id", "pkce_verifier"},
	{"flow_states", "id", "device_code"},
}
