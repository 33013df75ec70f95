"""ostium's built-in Keystone v3 subset: storage of domains, projects, users, roles and
assignments (`store`), password hashing (`passwords`), tokens (`tokens`), the catalog
and version documents (`catalog`), the JSON shapes (`render`) and the first admin
(`bootstrap`). The routes in `api/routes/keystone*.py` only parse and render; the CLI's
`ostium identity ...` calls the same functions."""
