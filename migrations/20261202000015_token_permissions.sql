-- An API token may carry a subset of its role's permissions (names from the catalogue, domain::Permission);
-- NULL: the role's whole bundle, as every token made before this had.
ALTER TABLE api_tokens ADD COLUMN permissions text[];
