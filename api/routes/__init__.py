"""The API's routers, one module per area; each route carries a policy guard."""
