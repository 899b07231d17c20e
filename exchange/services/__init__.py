"""Services: what the exchange does, between the HTTP/CLI edges and the store."""
