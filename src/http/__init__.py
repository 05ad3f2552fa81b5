"""HTTP plumbing shared by every domain: problem+json, middleware, OpenAPI, parameters."""
