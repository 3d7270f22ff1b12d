-- The git credential lookup (UsableConnections) as two index ranges, so its cost
-- follows what the person may use rather than the size of their organizations.

-- A person's own connections: owner_user_id also records who created the others,
-- so connections_owner_user would read those too.
CREATE INDEX connections_own ON connections(owner_user_id, created_at) WHERE owner_kind = 'user';
-- An organization's shared connections (project- and organization-owned), without
-- its members' personal ones, which connections_owner_org holds as well.
CREATE INDEX connections_shared ON connections(owner_org_id, created_at) WHERE owner_kind <> 'user';
