-- A person has at most one connection of their own through an OAuth client: linking
-- again renews it (connect's saveLink). Two first links racing each other could
-- both find none and both create one; with this index the second fails and renews
-- the first instead. Duplicates made before it: the most recently updated stays.
DELETE FROM connections WHERE owner_kind = 'user' AND EXISTS (
    SELECT 1 FROM connections d
    WHERE d.owner_kind = 'user' AND d.oauth_client_id = connections.oauth_client_id
      AND d.owner_user_id = connections.owner_user_id
      AND (d.updated_at > connections.updated_at OR (d.updated_at = connections.updated_at AND d.id > connections.id)));
CREATE UNIQUE INDEX connections_one_per_person ON connections(oauth_client_id, owner_user_id) WHERE owner_kind = 'user';
