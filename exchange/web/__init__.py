"""The HTTP edge: routes, middleware and handlers. Handlers parse, call a service, respond."""
