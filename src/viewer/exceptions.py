"""The viewer raises no errors of its own: a tenant it cannot mint for is `auth`'s
`TenantNotFound`, and a token's failures are `auth`'s credential errors (401, 403)."""
