"""Guards shared by the HTTP roles: request body limits, rate limits, and the one outbound client
for tenant-supplied URLs. Imports only `schemas` of ours; ingest, views_api and processors use it."""
