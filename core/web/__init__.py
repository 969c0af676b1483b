"""HTTP faces of the studio: the REST API, the sign-in cookie routes, security headers."""
