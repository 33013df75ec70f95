"""The web dashboard at `/dashboard`: server-rendered pages (Jinja2) made live with htmx
(vendored in `static/`, Zero-Clause BSD) and a small hand-written chart script; see
`routes.py`."""
